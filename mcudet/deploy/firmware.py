"""Cortex-M firmware for an exported model: build it for a board profile, run it in QEMU, measure.

    from mcudet.deploy.firmware import build_firmware, run_firmware
    fw = build_firmware('work_dirs/vww', 'stm32f412', dsp=True)   # a folder written by codegen.export
    run = run_firmware(fw, frame)      # frame: the model's int8 input (codegen.reference_io)
    run.outputs[0], run.instructions[0], run.stack_bytes

The firmware is the generated ``model.c`` + the mcu_rt runtime + ``deploy/boards`` (startup,
vector table, ``_sbrk``, the harness ``main``) + a small generated glue file, compiled with
``arm-none-eabi-gcc -O2`` and the core's flags (:data:`mcudet.deploy.cbuild.ARM_CPUS`) and linked
with newlib-nano and semihosting (rdimon) by a linker script made from the board profile
(``deploy/boards/firmware.ld.in``). Over-budget images fail to link; :func:`build_firmware` then
raises :class:`BudgetError` saying by how much, and which patch schedule would fit.

What is counted (:mod:`mcudet.deploy.firmware_sizes`): flash = code + the model's constant
arrays + the .data image; SRAM = .data + .bss (the model arena, the harness's input frame and
output buffers, newlib) + the heap and stack the profile reserves. ``stack_bytes`` of a run is the
measured peak during inference (painted stack, counted from the top of the stack, so the harness's
``main`` frame is in it).

Instructions, never cycles (QEMU has no timing model). The harness brackets ``model_invoke``
with two marker functions; with the TCG plugin of :mod:`mcudet.deploy.qemu_plugin` the count is
exact (the markers' own cost, from an empty pair run first, is subtracted). Without the plugin,
``-icount shift=0`` makes every instruction 1 ns of virtual time and SysTick (core clock, read
around the call) gives the count to within one tick (40 instructions on MPS2's 25 MHz).
"""
from __future__ import annotations

import bisect
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .boards import BoardProfile, load_board
from .cbuild import (
    ARM_CPUS,
    DEFAULT_BUILD_DIR,
    REPO,
    RUNTIME_DIR,
    WARNINGS,
    _compiler_version,
    _digest,
    _headers,
    cached_build,
    compile_arm,
    runtime_sources,
)
from .codegen.detect import BOX_DTYPE
from .firmware_budget import BudgetError, FirmwareError, budget_error
from .firmware_sizes import FlashUsage, SramUsage, functions, measure, symbol_address
from .ir import Graph
from .qemu_plugin import plugin_library

BOARDS_SRC = REPO / 'deploy' / 'boards'
FW_SOURCES = ('startup.c', 'syscalls.c', 'harness.c')
CFLAGS = ('-std=c99', '-O2', *WARNINGS, '-ffunction-sections', '-fdata-sections')
LINK_FLAGS = ('-nostartfiles', '--specs=nano.specs', '--specs=rdimon.specs', '-Wl,--gc-sections')
GCC = 'arm-none-eabi-gcc'
QEMU = 'qemu-system-arm'
_RELAXED = 256 * 1024 * 1024  # region size of the measuring link after an over-budget one
_OVER_BUDGET = re.compile(r"mcudet: (SRAM|FLASH) over budget|region `(SRAM|FLASH)' overflowed")


@dataclass(frozen=True)
class Firmware:
    """A linked firmware image and what it occupies."""

    board: BoardProfile
    dsp: bool
    elf: Path
    build_dir: Path
    flash: FlashUsage
    sram: SramUsage
    input_bytes: int
    output_bytes: tuple[int, ...]
    markers: tuple[int, int]  # addresses of fw_bench_begin, fw_bench_end
    export_report: dict = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return self.flash.total <= self.board.flash_bytes and self.sram.total <= self.board.sram_bytes


@dataclass
class FirmwareRun:
    """Outputs and measurements of one QEMU run (one entry per input frame)."""

    outputs: list[list[np.ndarray]]      # [frame][output k]: flat int8, MODEL_OUTPUTK_BYTES each
    instructions: Optional[list[int]]    # per frame, between the markers; None when not counted
    counter: str                         # 'plugin' (exact), 'icount-systick' (+- counter_resolution), 'none'
    counter_resolution: int              # instructions; 0 when exact
    stack_bytes: int                     # peak stack during inference (below the stack top)
    stack_io_bytes: int                  # peak stack of the harness's semihosting file I/O
    heap_bytes: int                      # peak heap newlib took (the harness's FILE structures)
    console: str
    profile: Optional[dict[str, int]] = None  # first frame: instructions per function (profile=True)


# ---------------------------------------------------------------------- build
def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}')
    tmp.write_text(text)
    tmp.replace(path)


def runtime_objects(cpu: str, dsp: bool) -> list[Path]:
    """mcu_rt compiled for ``cpu`` (cached under ``work_dirs/cbuild``, keyed by sources, flags, compiler)."""
    srcs = runtime_sources()
    key = _digest(srcs + _headers(), [cpu, str(dsp), *ARM_CPUS[cpu], _compiler_version(GCC)])
    out = DEFAULT_BUILD_DIR / f'fw-rt-{cpu}-{"dsp" if dsp else "portable"}-{key}'
    objs = [out / (s.stem + '.o') for s in srcs]
    cached_build(out, objs, lambda tmp: compile_arm(cpu, dsp, tmp))
    return objs


def _glue(header: str) -> tuple[str, int, tuple[int, ...]]:
    """``fw_glue.c`` for a generated ``model.h``: buffers, sizes and ``fw_invoke``."""
    num = int(re.search(r'#define MODEL_NUM_OUTPUTS (\d+)', header)[1])
    inp = int(re.search(r'#define MODEL_INPUT_BYTES (\d+)', header)[1])
    outs = tuple(int(re.search(rf'#define MODEL_OUTPUT{k}_BYTES (\d+)', header)[1]) for k in range(num))
    sizes = ', '.join(f'MODEL_OUTPUT{k}_BYTES' for k in range(num))
    head = ('/* fw_glue.c: generated by mcudet/deploy/firmware.py for deploy/boards/harness.c. */\n'
            '#include <stdint.h>\n\n#include "fw.h"\n#include "model.h"\n\n'
            'int8_t fw_input[MODEL_INPUT_BYTES] __attribute__((aligned(4)));\n'
            'const uint32_t fw_input_bytes = MODEL_INPUT_BYTES;\n')
    det = re.search(r'#define MODEL_MAX_DETECTIONS (\d+)', header)
    if det is None:
        bufs = ''.join(f'static int8_t fw_out{k}[MODEL_OUTPUT{k}_BYTES] __attribute__((aligned(4)));\n'
                       for k in range(num))
        names = ', '.join(f'fw_out{k}' for k in range(num))
        text = (head + bufs + f'int8_t *const fw_outputs[] = {{{names}}};\n'
                f'const uint32_t fw_output_bytes[] = {{{sizes}}};\n'
                'const uint32_t fw_num_outputs = MODEL_NUM_OUTPUTS;\n\n'
                f'int fw_invoke(void)\n{{\n    return model_invoke(fw_input, {names});\n}}\n')
        return text, inp, outs
    # A detector: fw_invoke is model_detect; the outputs are its prediction maps and, last, the
    # detections record (int32 count, then MODEL_MAX_DETECTIONS mcu_box_t, see codegen.detect).
    names = ', '.join(f'model_detect_output{k}' for k in range(num))
    text = (head + 'static struct { int32_t n; mcu_box_t boxes[MODEL_MAX_DETECTIONS]; } fw_det;\n'
            f'int8_t *const fw_outputs[] = {{{names}, (int8_t *)&fw_det}};\n'
            f'const uint32_t fw_output_bytes[] = {{{sizes}, sizeof fw_det}};\n'
            'const uint32_t fw_num_outputs = MODEL_NUM_OUTPUTS + 1;\n\n'
            'int fw_invoke(void)\n{\n    return model_detect(fw_input, fw_det.boxes, &fw_det.n);\n}\n')
    return text, inp, (*outs, 4 + int(det[1]) * BOX_DTYPE.itemsize)


def linker_script(board: BoardProfile, stack_bytes: int, heap_bytes: int, relaxed: bool = False) -> str:
    """The linker script for ``board`` (``relaxed``: budgets so large that any image links, to measure it)."""
    m = board.machine
    flash_budget = _RELAXED if relaxed else board.flash_bytes
    sram_budget = _RELAXED if relaxed else board.sram_bytes
    return (BOARDS_SRC / 'firmware.ld.in').read_text().format(
        board=board.name, cpu=board.cpu, qemu_machine=board.qemu_machine, flash_bytes=flash_budget,
        sram_bytes=sram_budget, stack_bytes=stack_bytes, heap_bytes=heap_bytes,
        flash_origin=f'0x{m.flash_origin:08x}', sram_origin=f'0x{m.sram_origin:08x}',
        flash_region=f'0x{_RELAXED if relaxed else m.flash_size:08x}',
        sram_region=f'0x{_RELAXED if relaxed else max(m.sram_size, sram_budget):08x}')


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def build_firmware(export_dir: Union[str, Path], board: Union[str, Path, BoardProfile], dsp: bool = True, *,
                   stack_bytes: Optional[int] = None, heap_bytes: Optional[int] = None,
                   graph: Optional[Graph] = None, out_dir: Optional[Path] = None) -> Firmware:
    """Compile and link the firmware of an exported model (``model.c``/``model.h`` in ``export_dir``).

    Args:
        export_dir: A folder written by :func:`mcudet.deploy.codegen.export`.
        board: A profile name of ``configs/boards``, a profile path, or a :class:`BoardProfile`.
        dsp: Build the runtime's DSP path (``MCU_RT_USE_DSP``).
        stack_bytes, heap_bytes: Override the profile's reservations.
        graph: The exported graph, to propose a patch schedule when the SRAM budget is exceeded
            (default: ``export_dir/model.tflite`` when it is there).
        out_dir: Build folder (default ``export_dir/firmware/<board>-<dsp|portable>``), replaced atomically.

    Raises:
        BudgetError: The image exceeds the board's flash or SRAM budget.
        FirmwareError: A compile or link error.
    """
    export_dir, board = Path(export_dir), load_board(board)
    stack = stack_bytes if stack_bytes is not None else board.stack_bytes
    heap = heap_bytes if heap_bytes is not None else board.heap_bytes
    for name in ('model.c', 'model.h'):
        if not (export_dir / name).is_file():
            raise FirmwareError(f'{export_dir / name} is missing: export the model first (tools/export.py)')
    if shutil.which(GCC) is None:
        raise FirmwareError(f'{GCC} is not installed (apt-get install gcc-arm-none-eabi '
                            f'libnewlib-arm-none-eabi)')
    variant = f'{board.name}-{"dsp" if dsp else "portable"}'
    out = Path(out_dir) if out_dir else export_dir / 'firmware' / variant
    out.parent.mkdir(parents=True, exist_ok=True)
    report_file = export_dir / 'report.json'
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    rt = runtime_objects(board.cpu, dsp)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}-', dir=out.parent))
    try:
        glue, inp, outs = _glue((export_dir / 'model.h').read_text())
        (tmp / 'fw_glue.c').write_text(glue)
        flags = [*CFLAGS, *ARM_CPUS[board.cpu], *(['-DMCU_RT_USE_DSP'] if dsp else []),
                 '-I', str(RUNTIME_DIR / 'include'), '-I', str(BOARDS_SRC), '-I', str(export_dir)]
        srcs = [export_dir / 'model.c', tmp / 'fw_glue.c', *(BOARDS_SRC / s for s in FW_SOURCES)]
        proc = _run([GCC, *flags, '-c', *map(str, srcs)], tmp)
        if proc.returncode != 0:
            raise FirmwareError(f'{board.name}: compiling the firmware failed:\n{proc.stderr[-4000:]}')
        objs = [tmp / (s.stem + '.o') for s in srcs]

        def link(relaxed: bool) -> subprocess.CompletedProcess:
            (tmp / 'firmware.ld').write_text(linker_script(board, stack, heap, relaxed))
            return _run([GCC, *ARM_CPUS[board.cpu], *LINK_FLAGS, '-T', str(tmp / 'firmware.ld'),
                         f'-Wl,-Map,{tmp / "firmware.map"}', *map(str, objs),
                         *map(str, rt), '-lm', '-o', str(tmp / 'firmware.elf')], tmp)

        proc = link(relaxed=False)
        if proc.returncode != 0:
            if not _OVER_BUDGET.search(proc.stderr):
                raise FirmwareError(f'{board.name}: linking the firmware failed:\n{proc.stderr[-4000:]}')
            if link(relaxed=True).returncode != 0:
                raise FirmwareError(f'{board.name}: over budget, and the measuring link failed too:\n'
                                    f'{proc.stderr[-4000:]}')
            flash, sram = measure(tmp / 'firmware.elf', tmp / 'firmware.map', tmp / 'model.o',
                                  rt, heap, stack)
            raise budget_error(board, flash, sram, report, graph, export_dir)
        flash, sram = measure(tmp / 'firmware.elf', tmp / 'firmware.map', tmp / 'model.o', rt, heap, stack)
        begin = symbol_address(tmp / 'firmware.elf', 'fw_bench_begin')
        end = symbol_address(tmp / 'firmware.elf', 'fw_bench_end')
        info = {'board': board.name, 'cpu': board.cpu, 'qemu_machine': board.qemu_machine, 'dsp': dsp,
                'flash': flash.to_dict(), 'sram': sram.to_dict(), 'flash_budget': board.flash_bytes,
                'sram_budget': board.sram_bytes}
        _atomic_write(tmp / 'firmware.json', json.dumps(info, indent=2) + '\n')
        if out.exists():
            old = out.with_name(f'.{out.name}-old{os.getpid()}')
            out.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Firmware(board, dsp, out / 'firmware.elf', out, flash, sram, inp, outs, (begin, end), report)


# ---------------------------------------------------------------------- run
_RESULT = re.compile(r'MCUDET-RESULT frames=(\d+) status=(-?\d+) stack_inference=(\d+) stack_io=(\d+) '
                     r'heap=(\d+) stack_reserved=(\d+)')
_FRAME = re.compile(r'MCUDET-FRAME (\d+) systick=(-?\d+)')


def run_firmware(fw: Firmware, frames: Union[np.ndarray, Sequence[np.ndarray]], *, timeout: float = 120,
                 count: str = 'auto', profile: bool = False) -> FirmwareRun:
    """Run ``fw`` in QEMU on int8 input frames (one array, or a sequence: one QEMU boot for all).

    Args:
        fw: From :func:`build_firmware`.
        frames: The model's int8 input (``MODEL_INPUT_BYTES`` values each).
        timeout: Seconds for the whole QEMU run (``timeout`` kills it past that).
        count: 'plugin' (exact, error when unavailable), 'icount' (SysTick under ``-icount shift=0``),
            'auto' (the plugin when available, else icount) or 'none'.
        profile: Also count instructions per function for the first frame (needs the plugin).
    """
    if count not in ('auto', 'plugin', 'icount', 'none'):
        raise ValueError(f"count={count!r}; expected 'auto', 'plugin', 'icount' or 'none'")
    if shutil.which(QEMU) is None:
        raise FirmwareError(f'{QEMU} is not installed (apt-get install qemu-system-arm)')
    frames = [frames] if isinstance(frames, np.ndarray) else list(frames)
    for i, f in enumerate(frames):
        if f.size != fw.input_bytes:
            raise ValueError(f'frame {i} has {f.size} values; the model takes {fw.input_bytes} '
                             f'(MODEL_INPUT_BYTES)')
    lib, why = plugin_library() if count in ('auto', 'plugin') else (None, '')
    if profile and count not in ('auto', 'plugin'):
        raise ValueError(f'profile=True needs the plugin; count={count!r}')
    if (count == 'plugin' or profile) and lib is None:
        raise FirmwareError(f'the instruction-counting plugin is unavailable: {why}')
    mode = 'plugin' if lib is not None else ('icount' if count in ('auto', 'icount') else 'none')
    with tempfile.TemporaryDirectory(prefix='mcudet-qemu-') as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / 'input.bin').write_bytes(b''.join(np.ascontiguousarray(f, np.int8).tobytes() for f in frames))
        cmd = ['timeout', str(int(timeout)), QEMU, '-M', fw.board.qemu_machine, '-nographic',
               '-monitor', 'none', '-semihosting-config', 'enable=on,target=native',
               '-kernel', str(fw.elf.resolve())]
        if mode == 'plugin':
            begin, end = fw.markers
            cmd += ['-plugin', f'{lib},begin=0x{begin:x},end=0x{end:x},out={tmp / "counts.txt"}'
                    + (f',profile={tmp / "profile.txt"}' if profile else '')]
        elif mode == 'icount':
            cmd += ['-icount', 'shift=0']
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        console = proc.stdout + proc.stderr
        where = f'{fw.board.name} ({fw.board.qemu_machine}, {fw.elf})'
        if proc.returncode == 124:
            raise FirmwareError(f'{where}: QEMU did not finish in {timeout:g} s (raise timeout=):\n'
                                f'{console[-2000:]}')
        fault = next((ln for ln in console.splitlines() if 'mcudet firmware:' in ln), None)
        if fault is not None:
            raise FirmwareError(f'{where}: the firmware faulted (exit {proc.returncode}): {fault}')
        if proc.returncode in (-6, 134) or 'Lockup' in console:
            raise FirmwareError(f'{where}: QEMU aborted on a CPU lock-up (a fault with no usable stack, '
                                f'e.g. a stack overflow; raise stack_bytes):\n{console[:600]}')
        m = _RESULT.search(proc.stdout)
        if proc.returncode != 0 or m is None:
            raise FirmwareError(f'{where}: exit status {proc.returncode} (2: host files, 3: model_invoke '
                                f'failed, 4: no frame):\n{console[-2000:]}')
        raw = np.frombuffer((tmp / 'output.bin').read_bytes(), np.int8)
        counts = [int(x) for x in (tmp / 'counts.txt').read_text().split()] if mode == 'plugin' else []
        per_function = _profile(fw.elf, (tmp / 'profile.txt').read_text()) if profile else None
    n = int(m[1])
    per = sum(fw.output_bytes)
    if n != len(frames) or raw.size != n * per:
        raise FirmwareError(f'{where}: ran {n} of {len(frames)} frames, wrote {raw.size} of {n * per} bytes')
    outputs, at = [], 0
    for _ in range(n):
        frame_outs = []
        for size in fw.output_bytes:
            frame_outs.append(raw[at:at + size].copy())
            at += size
        outputs.append(frame_outs)
    instructions: Optional[list[int]] = None
    resolution = 0
    if mode == 'plugin':
        if len(counts) != n + 1:
            raise FirmwareError(f'{where}: the plugin counted {len(counts)} intervals, expected {n + 1}')
        instructions = [c - counts[0] for c in counts[1:]]
    elif mode == 'icount':
        ns_per_tick = 1e9 / fw.board.machine.systick_hz  # = instructions per tick under -icount shift=0
        ticks = [int(t) for _, t in sorted(_FRAME.findall(proc.stdout), key=lambda ft: int(ft[0]))]
        instructions = None if any(t < 0 for t in ticks) else [round(t * ns_per_tick) for t in ticks]
        resolution = math.ceil(ns_per_tick)
    counter = {'plugin': 'plugin', 'icount': 'icount-systick', 'none': 'none'}[mode]
    return FirmwareRun(outputs, instructions, counter if instructions is not None else 'none', resolution,
                       int(m[3]), int(m[4]), int(m[5]), console, per_function)


def _profile(elf: Path, text: str) -> dict[str, int]:
    """Instructions per function in the plugin's profile of interval 1 (the first frame), largest first."""
    addrs, names = functions(elf)
    totals: dict[str, int] = {}
    interval = -1
    for line in text.splitlines():
        parts = line.split()
        if parts[0] == 'interval':
            interval = int(parts[1])
        elif interval == 1:
            i = bisect.bisect_right(addrs, int(parts[0], 16)) - 1
            name = names[i] if i >= 0 else '?'
            totals[name] = totals.get(name, 0) + int(parts[1]) * int(parts[2])
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


from .firmware_check import BoardCheck, check_export  # noqa: E402 - re-exported; it imports this module lazily

__all__ = ['BoardCheck', 'BudgetError', 'Firmware', 'FirmwareError', 'FirmwareRun', 'build_firmware',
           'check_export', 'linker_script', 'run_firmware', 'runtime_objects']
