"""Where a firmware's flash and SRAM go: sections (``arm-none-eabi-size -A``), symbols
(``arm-none-eabi-nm``) and the linker map (which object file each input section came from).

Flash = .isr_vector + .text + .rodata + .ARM.exidx/.extab + .init_array + the .data image (what
the linker script's ``__flash_used`` counts). It is split into the model's constant arrays
(weights, biases, multipliers and the call parameters: model.o's read-only data), the model's
code (model.o's straight-line calls), the runtime kernels the model links, and the rest (startup,
harness, newlib, libgcc).

SRAM as linked = .data + .bss + the heap and stack reserved by the board profile (what
``__sram_used`` counts and the ASSERT checks). .bss holds the model arena (one static array in
model.o), the harness's input frame buffer (``fw_input``: the streamed frame has to live
somewhere) and output buffers, and newlib's and the harness's state.
"""
from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

FLASH_SECTIONS = ('.isr_vector', '.text', '.rodata', '.ARM.extab', '.ARM.exidx', '.init_array')
_MAP_LINE = re.compile(r'^ (\.[\w.$-]+|COMMON)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*))?$')
_MAP_CONT = re.compile(r'^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$')


def _tool(args: list[str]) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def section_sizes(elf: Path) -> dict[str, int]:
    """``{section: bytes}`` of an ELF (``arm-none-eabi-size -A``)."""
    out: dict[str, int] = {}
    for line in _tool(['arm-none-eabi-size', '-A', str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith('.') and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def symbol_sizes(elf: Path) -> dict[str, int]:
    """``{symbol: bytes}`` of the sized symbols of an ELF (local and global)."""
    out: dict[str, int] = {}
    for line in _tool(['arm-none-eabi-nm', '-S', '--defined-only', str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[parts[3]] = out.get(parts[3], 0) + int(parts[1], 16)
    return out


def symbol_address(elf: Path, name: str) -> int:
    """Address of a global symbol (bit 0, the Thumb bit, cleared)."""
    for line in _tool(['arm-none-eabi-nm', '--defined-only', str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise KeyError(f'{elf}: no symbol {name!r}')


def functions(elf: Path) -> tuple[list[int], list[str]]:
    """Start addresses (Thumb bit cleared, sorted) and names of the functions of an ELF."""
    table = []
    for line in _tool(['arm-none-eabi-nm', '-n', '--defined-only', str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in 'tTwW':
            table.append((int(parts[0], 16) & ~1, parts[2]))
    table.sort()
    return [a for a, _ in table], [n for _, n in table]


def map_contributions(map_file: Path) -> dict[tuple[str, str], int]:
    """``{(object file, kind): bytes}`` of the input sections the link kept; kind is text, rodata,
    data, bss or other (from the input section's name)."""
    text = map_file.read_text(errors='replace')
    start = text.find('Linker script and memory map')
    lines = text[start:].splitlines() if start >= 0 else []
    out: dict[tuple[str, str], int] = defaultdict(int)
    pending = None
    for line in lines:
        m = _MAP_LINE.match(line)
        if m:
            if m.group(2) is None:
                pending = m.group(1)
                continue
            name, size, obj = m.group(1), int(m.group(3), 16), m.group(4)
        elif pending is not None and (c := _MAP_CONT.match(line)):
            name, size, obj = pending, int(c.group(2), 16), c.group(3)
        else:
            pending = None
            continue
        pending = None
        if size == 0 or name.startswith('.debug') or name in ('.comment', '.ARM.attributes'):
            continue
        kind = next((k for k in ('text', 'rodata', 'data', 'bss') if name.startswith(f'.{k}')), 'other')
        kind = 'bss' if name == 'COMMON' else kind
        out[(obj.strip(), kind)] += size
    return dict(out)


@dataclass(frozen=True)
class FlashUsage:
    """Flash bytes of a linked firmware, by origin."""

    model_constants: int  # weights, biases, multipliers / shifts, call parameters (model.o read-only data)
    model_code: int       # the generated straight-line calls (model.o .text)
    runtime_code: int     # the mcu_rt kernels the model links (text + read-only data)
    other: int            # vector table, startup, harness, newlib, libgcc, the .data image
    total: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class SramUsage:
    """SRAM bytes of a linked firmware: static (.data + .bss) plus the reserved heap and stack."""

    arena: int            # the model's static arena (activations + kernel scratch)
    input_buffer: int     # the harness's int8 input frame buffer (fw_input)
    output_buffers: int   # the harness's output buffers
    other_static: int     # newlib's and the harness's .data / .bss
    heap_reserved: int
    stack_reserved: int

    @property
    def static(self) -> int:
        return self.arena + self.input_buffer + self.output_buffers + self.other_static

    @property
    def total(self) -> int:
        return self.static + self.heap_reserved + self.stack_reserved

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), 'static': self.static, 'total': self.total}

    def line(self) -> str:
        return (f'arena {self.arena:,} + input frame buffer {self.input_buffer:,} + output buffers '
                f'{self.output_buffers:,} + other .data/.bss {self.other_static:,} + heap '
                f'{self.heap_reserved:,} + stack {self.stack_reserved:,} B')


def measure(elf: Path, map_file: Path, model_obj: Path, runtime_objs: list[Path], heap_reserved: int,
            stack_reserved: int) -> tuple[FlashUsage, SramUsage]:
    """Flash and SRAM usage of a linked firmware (see the module docstring for what is counted)."""
    sections = section_sizes(elf)
    flash_total = sum(sections.get(s, 0) for s in FLASH_SECTIONS) + sections.get('.data', 0)
    contrib = map_contributions(map_file)  # objects are named as on the link line: absolute paths
    model, rt = str(model_obj), {str(o) for o in runtime_objs}
    model_const = sum(v for (o, k), v in contrib.items() if k in ('rodata', 'data') and o == model)
    model_code = sum(v for (o, k), v in contrib.items() if k == 'text' and o == model)
    runtime = sum(v for (o, k), v in contrib.items() if k in ('text', 'rodata') and o in rt)
    flash = FlashUsage(model_const, model_code, runtime, flash_total - model_const - model_code - runtime,
                       flash_total)
    syms = symbol_sizes(elf)
    static = sections.get('.data', 0) + sections.get('.bss', 0)
    arena = syms.get('arena', 0)
    inp = syms.get('fw_input', 0)
    outs = sum(v for k, v in syms.items() if re.fullmatch(r'fw_out\d+', k))
    sram = SramUsage(arena, inp, outs, static - arena - inp - outs, heap_reserved, stack_reserved)
    return flash, sram


__all__ = ['FlashUsage', 'SramUsage', 'functions', 'map_contributions', 'measure', 'section_sizes',
           'symbol_address', 'symbol_sizes']
