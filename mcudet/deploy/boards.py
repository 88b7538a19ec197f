"""Board profiles (``configs/boards/<name>.py``): the memory budgets a firmware must fit and the
QEMU machine that stands in for the board.

A profile is a data file in the style of the project's configs: top-level assignments of
literals (ints may be written ``256 * 1024`` or ``0x2000_0000``), comments allowed. It is read
with :mod:`ast`, never executed. Fields (:class:`BoardProfile`)::

    name = 'stm32f412'              # equals the file name
    description = '...'
    cpu = 'cortex-m4'               # a key of mcudet.deploy.cbuild.ARM_CPUS
    sram_bytes = 256 * 1024         # SRAM budget: .data + .bss + heap + stack must fit
    flash_bytes = 1024 * 1024       # flash budget: code + weights + the .data image
    qemu_machine = 'mps2-an386'     # a key of QEMU_MACHINES
    # optional:
    stack_bytes = 8 * 1024          # reserved at the top of the SRAM budget (default 8 KiB)
    heap_bytes = 1024               # reserved for newlib (the harness's semihosting I/O)

The image is linked where the QEMU machine has its memories (``QEMU_MACHINES``); a budget larger
than the machine's memory is an error. On the MPS2 machines the budget is a linker limit only
(their RAM is 4 MiB); on ``netduinoplus2`` the SRAM budget is the physical 192 KiB as well.

    from mcudet.deploy.boards import load_board, list_boards
    board = load_board('stm32f412')     # or a path to a profile file
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Union

from .cbuild import ARM_CPUS

BOARDS_DIR = Path(__file__).resolve().parents[2] / 'configs' / 'boards'
KIB = 1024


@dataclass(frozen=True)
class QemuMachine:
    """A QEMU machine: its core, where its code and data memories are, and its SysTick clock."""

    cpu: str
    flash_origin: int
    flash_size: int
    sram_origin: int
    sram_size: int
    systick_hz: int  # SysTick's processor clock: instructions per tick under -icount shift=0 = 1e9 / hz
    faults_past_sram: bool  # accesses past sram_size fault (no RAM behind the budget)


MIB = 1024 * KIB
QEMU_MACHINES: dict[str, QemuMachine] = {
    'mps2-an386': QemuMachine('cortex-m4', 0x0, 4 * MIB, 0x2000_0000, 4 * MIB, 25_000_000, False),
    'mps2-an500': QemuMachine('cortex-m7', 0x0, 4 * MIB, 0x2000_0000, 4 * MIB, 25_000_000, False),
    'netduinoplus2': QemuMachine('cortex-m4', 0x0800_0000, MIB, 0x2000_0000, 192 * KIB, 168_000_000, True),
}


class BoardError(ValueError):
    """A board profile is missing, malformed or inconsistent; the message names the file and field."""


@dataclass(frozen=True)
class BoardProfile:
    """One board: budgets, core, and the QEMU machine standing in for it.

    Args:
        name: Profile name (the file stem).
        description: One line for tables.
        cpu: Core, a key of :data:`mcudet.deploy.cbuild.ARM_CPUS`.
        sram_bytes: SRAM budget (.data + .bss + heap + stack).
        flash_bytes: Flash budget (code + weights + .data image).
        qemu_machine: A key of :data:`QEMU_MACHINES`.
        stack_bytes: Stack reserved at the top of the SRAM budget.
        heap_bytes: Heap reserved for newlib (the test harness's semihosting file I/O).
        source: The file it was read from.
    """

    name: str
    description: str
    cpu: str
    sram_bytes: int
    flash_bytes: int
    qemu_machine: str
    stack_bytes: int = 8 * KIB
    heap_bytes: int = 1 * KIB
    source: Path = Path()

    @property
    def machine(self) -> QemuMachine:
        return QEMU_MACHINES[self.qemu_machine]

    @property
    def flash_origin(self) -> int:
        return self.machine.flash_origin

    @property
    def sram_origin(self) -> int:
        return self.machine.sram_origin

    def summary(self) -> str:
        return (f'{self.name}: {self.cpu}, SRAM {self.sram_bytes // KIB} KiB, '
                f'flash {self.flash_bytes // KIB} KiB (QEMU {self.qemu_machine})')


_REQUIRED = ('name', 'description', 'cpu', 'sram_bytes', 'flash_bytes', 'qemu_machine')
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.LShift: operator.lshift, ast.Pow: operator.pow}


def _literal(node: ast.AST, where: str) -> Any:
    """A literal, or integer arithmetic on literals (``256 * 1024``); anything else is an error."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal(node.operand, where)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _literal(node.left, where), _literal(node.right, where)
        if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and not isinstance(b, bool):
            return _BINOPS[type(node.op)](a, b)
    raise BoardError(f'{where}: only literals and integer arithmetic are allowed in a board profile, '
                     f'got {ast.unparse(node)!r}')


def _read_fields(path: Path) -> dict[str, Any]:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as e:
        raise BoardError(f'{path}:{e.lineno}: not a valid profile: {e.msg}') from e
    values: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        single = isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
        if not (single and isinstance(stmt.targets[0], ast.Name)):
            raise BoardError(f'{path}:{stmt.lineno}: a board profile holds only `field = value` lines')
        key = stmt.targets[0].id
        values[key] = _literal(stmt.value, f'{path}:{stmt.lineno} ({key})')
    return values


def board_from_dict(values: dict[str, Any], source: Path = Path('<dict>')) -> BoardProfile:
    """Validate ``values`` (the fields of a profile) into a :class:`BoardProfile`."""
    known = {f.name for f in fields(BoardProfile)} - {'source'}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BoardError(f'{source}: unknown field(s) {unknown}; a profile has {sorted(known)}')
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise BoardError(f'{source}: missing field(s) {missing}')
    for key in ('name', 'description', 'cpu', 'qemu_machine'):
        if not isinstance(values[key], str) or not values[key]:
            raise BoardError(f'{source}: field {key!r} must be a non-empty string, got {values[key]!r}')
    for key in ('sram_bytes', 'flash_bytes', 'stack_bytes', 'heap_bytes'):
        if key not in values:
            continue  # an optional field left at its default
        v = values[key]
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0 or v % 4:
            raise BoardError(f'{source}: field {key!r} must be a positive multiple of 4 bytes, got {v!r}')
    board = BoardProfile(**values, source=source)
    if source.suffix == '.py' and board.name != source.stem:
        raise BoardError(f'{source}: field name={board.name!r} must equal the file name {source.stem!r}')
    if board.cpu not in ARM_CPUS:
        raise BoardError(f'{source}: field cpu={board.cpu!r}; expected one of {sorted(ARM_CPUS)}')
    if board.qemu_machine not in QEMU_MACHINES:
        raise BoardError(f'{source}: field qemu_machine={board.qemu_machine!r}; expected one of '
                         f'{sorted(QEMU_MACHINES)}')
    m = board.machine
    if m.cpu != board.cpu:
        raise BoardError(f'{source}: qemu_machine={board.qemu_machine!r} emulates a {m.cpu}, '
                         f'not cpu={board.cpu!r}')
    if board.sram_bytes > m.sram_size:
        raise BoardError(f'{source}: sram_bytes={board.sram_bytes:,} exceeds the {m.sram_size:,} B of RAM of '
                         f'{board.qemu_machine!r}')
    if board.flash_bytes > m.flash_size:
        raise BoardError(f'{source}: flash_bytes={board.flash_bytes:,} exceeds the {m.flash_size:,} B of '
                         f'code memory of {board.qemu_machine!r}')
    if board.stack_bytes + board.heap_bytes >= board.sram_bytes:
        reserved = board.stack_bytes + board.heap_bytes
        raise BoardError(f'{source}: stack_bytes + heap_bytes ({reserved:,}) leave nothing of '
                         f'sram_bytes={board.sram_bytes:,}')
    return board


def board_path(name: str) -> Path:
    """The profile file of ``name`` in ``configs/boards/``."""
    return BOARDS_DIR / f'{name}.py'


def list_boards() -> list[str]:
    """Names of the profiles in ``configs/boards/``, sorted."""
    return sorted(p.stem for p in BOARDS_DIR.glob('*.py') if not p.name.startswith('_'))


def load_board(board: Union[str, Path, BoardProfile]) -> BoardProfile:
    """A profile by name (``configs/boards/<name>.py``) or by path; a :class:`BoardProfile` passes through."""
    if isinstance(board, BoardProfile):
        return board
    path = Path(board)
    if path.suffix != '.py':
        path = board_path(str(board))
        if not path.is_file():
            raise BoardError(f'unknown board {str(board)!r}: no {path}; known boards: '
                             f'{", ".join(list_boards())}')
    elif not path.is_file():
        raise BoardError(f'board profile {path} does not exist')
    return board_from_dict(_read_fields(path), path)


__all__ = ['BOARDS_DIR', 'QEMU_MACHINES', 'BoardError', 'BoardProfile', 'QemuMachine', 'board_from_dict',
           'board_path', 'list_boards', 'load_board']
