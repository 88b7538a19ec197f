"""Build and run the C runtime (``deploy/runtime``) on the host, and cross-compile it for Cortex-M.

The host tests drive the kernels through a small C program, ``mcu_rt_runner``
(``deploy/runtime/test/mcu_rt_runner.c``), rather than through ctypes: the runner reads a
*program* (buffers, then kernel calls on views of them) from a file, runs it and writes the
buffers back. Why an executable and not a shared library loaded into Python:

* sanitizer builds work as they are: an ASan runtime inside a ctypes-loaded ``.so`` needs
  ``LD_PRELOAD=libasan.so`` into the Python process, and then reports Python's own leaks and
  allocator mismatches; a separate process has no such noise, so "no sanitizer report" can
  be asserted as "empty stderr, exit status 0";
* a crash, an ASan abort or a fatal UBSan report ends the runner, not the test session;
* every buffer is its own ``malloc`` (ASan sees any access outside it) and every kernel's
  scratch is allocated at exactly the size its query returns, so the size queries are tested;
* the same program format can later feed a semihosting firmware in QEMU.

Builds are cached under ``work_dirs/cbuild/<name>-<hash>/``, keyed by the sources, the flags
and the compiler version, so a test session compiles each configuration once (and later
sessions not at all). :class:`Program` builds a program; :func:`emit_op` lowers one IR op
(with its precomputed :mod:`~mcudet.deploy.params`) to a runtime call, with the same
arguments a code generator would emit.

Example::

    rt = build_runtime(BuildConfig(dsp=True, sanitize=True))
    prog = Program()
    x = prog.map(prog.buffer(data=x_int8), 8, 8, 16)
    y = prog.map(prog.buffer(8 * 8 * 32), 8, 8, 32)
    emit_op(prog, graph, graph.ops[0], [x], y)
    y_int8 = rt.run(prog).array(y.buf, np.int8).reshape(1, 8, 8, 32)
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from mcudet.patch.plan import PatchPlan, Window

from .ir import Graph, Op
from .memplan.kernels import conv_scratch, fully_connected_scratch, inplace_depthwise_scratch
from .ops import normalize_axes
from .patch_exec import patch_stage
from .reference import nearest_index

REPO = Path(__file__).resolve().parents[2]
RUNTIME_DIR = REPO / 'deploy' / 'runtime'
DEFAULT_BUILD_DIR = REPO / 'work_dirs' / 'cbuild'

#: Warnings every build uses (host and Arm): the library is C99 and warning-free.
WARNINGS = ('-Wall', '-Wextra', '-Werror', '-pedantic', '-Wshadow', '-Wstrict-prototypes',
            '-Wmissing-prototypes', '-Wdouble-promotion')
SANITIZE = ('-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-g')
#: Cortex-M targets: GCC flags of ``design/environment.md``.
ARM_CPUS = {
    'cortex-m4': ('-mcpu=cortex-m4', '-mthumb', '-mfloat-abi=hard', '-mfpu=fpv4-sp-d16'),
    'cortex-m7': ('-mcpu=cortex-m7', '-mthumb', '-mfloat-abi=hard', '-mfpu=fpv5-d16'),
}
#: Sources that may use float: graph-boundary conversions, the resize index set-up, post-processing.
FLOAT_SOURCES = ('quantize.c', 'resize_nearest.c', 'yolo_postprocess.c')


class CBuildError(RuntimeError):
    """The compiler or the runner failed; the message carries the command and its output."""


def runtime_sources() -> list[Path]:
    """The library's C files (``deploy/runtime/src/*.c``), sorted."""
    return sorted((RUNTIME_DIR / 'src').glob('*.c'))


def _headers() -> list[Path]:
    return sorted((RUNTIME_DIR / 'include').glob('*.h')) + sorted((RUNTIME_DIR / 'src').glob('*.h'))


def _compiler_version(cc: str) -> str:
    try:
        return subprocess.run([cc, '--version'], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise CBuildError(f'C compiler {cc!r} is not usable: {e}') from e


def _digest(paths: Sequence[Path], extra: Sequence[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for e in extra:
        h.update(b'\0' + e.encode())
    return h.hexdigest()[:16]


def _compile(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CBuildError(f'compile failed ({proc.returncode}): {" ".join(cmd)}\n{proc.stdout}{proc.stderr}')


# ---------------------------------------------------------------------- host builds
@dataclass(frozen=True)
class BuildConfig:
    """One host build of the runtime and its runner.

    Args:
        name: Label used in the cache directory and in test ids.
        dsp: Compile the DSP path (``MCU_RT_USE_DSP``) with the C emulation of the Arm
            intrinsics (``MCU_RT_EMULATE_ACLE``).
        sanitize: AddressSanitizer + UndefinedBehaviorSanitizer, every report fatal.
        opt: Optimisation flag.
        cc: Host C compiler.
    """

    name: str = 'portable'
    dsp: bool = False
    sanitize: bool = False
    opt: str = '-O2'
    cc: str = 'gcc'

    def flags(self) -> list[str]:
        f = ['-std=c99', self.opt, *WARNINGS]
        if self.dsp:
            f += ['-DMCU_RT_USE_DSP', '-DMCU_RT_EMULATE_ACLE']
        if self.sanitize:
            f += list(SANITIZE)
        return f


#: The four host configurations the tests run: portable / DSP-emulated, plain / sanitized.
HOST_CONFIGS = (
    BuildConfig('portable'),
    BuildConfig('dsp', dsp=True),
    BuildConfig('portable-asan', sanitize=True),
    BuildConfig('dsp-asan', dsp=True, sanitize=True),
)


def cached_build(out_dir: Path, products: Sequence[Path], build: Callable[[Path], None]) -> bool:
    """Make ``products`` (paths inside ``out_dir``) once: ``build(tmp)`` fills a fresh folder beside
    ``out_dir`` that is then renamed to it, so a cache entry is complete or absent. Returns whether
    it built (False: the entry was there, or a concurrent build of the same key won the rename)."""
    if all(p.is_file() for p in products):
        return False
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}-', dir=out_dir.parent))
    try:
        build(tmp)
        try:
            tmp.rename(out_dir)  # atomic: a concurrent build of the same key keeps its own result
        except OSError:
            if not all(p.is_file() for p in products):
                raise
            return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def build_runtime(config: BuildConfig = BuildConfig(), build_dir: Optional[Path] = None) -> Runtime:
    """Compile the runtime and ``mcu_rt_runner`` for the host (cached); return the runner."""
    build_dir = Path(build_dir) if build_dir is not None else DEFAULT_BUILD_DIR
    sources = runtime_sources() + [RUNTIME_DIR / 'test' / 'mcu_rt_runner.c']
    flags = config.flags()
    key = _digest(sources + _headers(), [*flags, _compiler_version(config.cc)])
    out_dir = build_dir / f'{config.name}-{key}'
    exe = out_dir / 'mcu_rt_runner'

    def build(tmp: Path) -> None:
        _compile([config.cc, *flags, '-I', str(RUNTIME_DIR / 'include'), '-I', str(RUNTIME_DIR / 'src'),
                  *map(str, sources), '-lm', '-o', str(tmp / 'mcu_rt_runner')], tmp)

    if cached_build(out_dir, [exe], build):
        _prune(build_dir, config.name, keep=out_dir)
    return Runtime(exe, config)


def _prune(build_dir: Path, name: str, keep: Path, versions: int = 3) -> None:
    """Drop all but the newest ``versions`` cached builds of one configuration (sources change)."""
    pattern = re.compile(re.escape(name) + r'-[0-9a-f]{16}')
    old = sorted((d for d in build_dir.iterdir() if d.is_dir() and pattern.fullmatch(d.name) and d != keep),
                 key=lambda d: d.stat().st_mtime, reverse=True)
    for d in old[versions - 1:]:
        shutil.rmtree(d, ignore_errors=True)


def build_runtimes(configs: Sequence[BuildConfig] = HOST_CONFIGS, build_dir: Optional[Path] = None,
                   jobs: int = 2) -> dict[str, Runtime]:
    """:func:`build_runtime` for several configurations, ``jobs`` compilers at a time."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        built = list(pool.map(lambda c: build_runtime(c, build_dir), configs))
    return {c.name: rt for c, rt in zip(configs, built)}


def compile_arm(cpu: str, dsp: bool, out_dir: Path, float_abi: str = 'hard',
                sources: Optional[Sequence[Path]] = None) -> list[Path]:
    """Compile the library for a Cortex-M core (objects only) with the project's warnings as errors.

    Args:
        cpu: A key of :data:`ARM_CPUS`.
        dsp: Define ``MCU_RT_USE_DSP`` (the arm_acle.h intrinsics).
        out_dir: Where the ``.o`` files go.
        float_abi: 'hard' (the real build) or 'soft' (no FPU: float code then calls
            ``__aeabi_f*`` helpers, which is how :func:`float_helpers` finds float use).
        sources: Subset of :func:`runtime_sources` (default all).
    """
    if cpu not in ARM_CPUS:
        raise ValueError(f'cpu={cpu!r}; expected one of {tuple(ARM_CPUS)}')
    flags = [f for f in ARM_CPUS[cpu] if not f.startswith(('-mfloat-abi', '-mfpu'))] if float_abi == 'soft' \
        else list(ARM_CPUS[cpu])
    if float_abi == 'soft':
        flags.append('-mfloat-abi=soft')
    cmd = ['arm-none-eabi-gcc', '-std=c99', '-O2', *WARNINGS, *flags, '-ffunction-sections',
           '-I', str(RUNTIME_DIR / 'include'), '-I', str(RUNTIME_DIR / 'src')]
    if dsp:
        cmd.append('-DMCU_RT_USE_DSP')
    out_dir.mkdir(parents=True, exist_ok=True)
    srcs = list(sources) if sources is not None else runtime_sources()
    _compile([*cmd, '-c', *map(str, srcs)], out_dir)
    return [out_dir / (s.stem + '.o') for s in srcs]


def float_helpers(obj: Path) -> list[str]:
    """Undefined soft-float helper symbols (``__aeabi_f*``, ``__aeabi_d*``, libm) an object calls."""
    proc = subprocess.run(['arm-none-eabi-nm', '-u', str(obj)], capture_output=True, text=True, check=True)
    names = [line.split()[-1] for line in proc.stdout.splitlines() if line.strip()]
    libm = {'expf', 'exp', 'roundf', 'round', 'floorf', 'floor', 'fmaxf', 'fminf', 'sqrtf'}
    return [n for n in names if n.startswith(('__aeabi_f', '__aeabi_d', '__aeabi_i2f', '__aeabi_ui2f',
                                              '__aeabi_l2f')) or n in libm]


# ---------------------------------------------------------------------- programs
@dataclass(frozen=True)
class View:
    """A window of a buffer seen as an NHWC map (strides in elements of ``itemsize`` bytes)."""

    buf: int
    offset: int
    h: int
    w: int
    c: int
    row_stride: int
    pix_stride: int
    itemsize: int = 1

    def args(self) -> list[int]:
        return [self.buf, self.offset, self.h, self.w, self.c, self.row_stride, self.pix_stride]

    def ptr(self) -> list[int]:
        """(buffer, byte offset) of the first element, for the kernels that take dense arrays."""
        return [self.buf, self.offset * self.itemsize]

    @property
    def dense(self) -> bool:
        """Elements contiguous in NHWC order (what the dense-array kernels need)."""
        return self.pix_stride == self.c and (self.h == 1 or self.row_stride == self.w * self.c)

    @property
    def size(self) -> int:
        return self.h * self.w * self.c

    def crop(self, r0: int, r1: int, c0: int, c1: int) -> View:
        """Rows [r0, r1) x cols [c0, c1) of this view (may be empty: a tile's window in the border)."""
        if not (0 <= r0 <= r1 <= self.h and 0 <= c0 <= c1 <= self.w):
            raise ValueError(f'crop rows {r0}:{r1} cols {c0}:{c1} outside a {self.h}x{self.w} view')
        return replace(self, offset=self.offset + r0 * self.row_stride + c0 * self.pix_stride, h=r1 - r0,
                       w=c1 - c0)

    def channels(self, c0: int, c1: int) -> View:
        return replace(self, offset=self.offset + c0, c=c1 - c0)


@dataclass
class Program:
    """Buffers and kernel calls for ``mcu_rt_runner`` (see its header for the file format)."""

    buffers: list[tuple[int, Optional[bytes]]] = field(default_factory=list)
    calls: list[tuple[str, list[int]]] = field(default_factory=list)
    dumps: list[int] = field(default_factory=list)
    _consts: dict = field(default_factory=dict, repr=False)

    def buffer(self, size: Optional[int] = None, data: Optional[np.ndarray] = None, dump: bool = True) -> int:
        """A new buffer of ``size`` bytes (filled with 0x5A) or holding ``data``; returns its id."""
        raw = None
        if data is not None:
            raw = np.ascontiguousarray(data).tobytes()
            size = len(raw) if size is None else size
            if size != len(raw):
                raise ValueError(f'buffer size {size} != {len(raw)} data bytes')
        if size is None:
            raise ValueError('a buffer needs a size or data')
        self.buffers.append((int(size), raw))
        if dump:
            self.dumps.append(len(self.buffers) - 1)
        return len(self.buffers) - 1

    def const(self, data: np.ndarray, key: Optional[object] = None) -> int:
        """A constant buffer (not written back); ``key`` shares it between calls."""
        if key is not None and key in self._consts:
            return self._consts[key]
        buf = self.buffer(data=data, dump=False)
        if key is not None:
            self._consts[key] = buf
        return buf

    def map(self, buf: int, h: int, w: int, c: int, offset: int = 0, row_stride: Optional[int] = None,
            pix_stride: Optional[int] = None, itemsize: int = 1) -> View:
        """A view of ``buf``; dense unless strides are given."""
        pix = c if pix_stride is None else pix_stride
        return View(buf, offset, h, w, c, w * pix if row_stride is None else row_stride, pix, itemsize)

    @staticmethod
    def ptr(buf: int, byte_offset: int = 0) -> list[int]:
        """The two pointer args (buffer, byte offset); buffer -1 is NULL."""
        return [buf, byte_offset]

    def call(self, op: str, args: Sequence[int]) -> int:
        """Append a call of runner op ``op``; returns the call index."""
        self.calls.append((op, [int(a) for a in args]))
        return len(self.calls) - 1

    def to_bytes(self, op_ids: dict[str, int]) -> bytes:
        words: list[np.ndarray] = [np.array([0x5452434D, 1, len(self.buffers)], np.int32)]
        for size, raw in self.buffers:
            words.append(np.array([size, raw is not None], np.int32))
            if raw is not None:
                words.append(np.frombuffer(raw + b'\0' * (-len(raw) % 4), np.int32))
        words.append(np.array([len(self.calls)], np.int32))
        for op, args in self.calls:
            if op not in op_ids:
                raise CBuildError(f'the runner has no op {op!r} (it has {sorted(op_ids)})')
            words.append(np.array([op_ids[op], len(args), *args], np.int64).astype(np.int32))
        words.append(np.array([len(self.dumps), *self.dumps], np.int32))
        return b''.join(w.astype('<i4').tobytes() for w in words)


@dataclass
class Result:
    """Per-call status (0 = MCU_RT_OK) and scratch bytes, and the written-back buffers."""

    status: np.ndarray
    info: np.ndarray
    buffers: dict[int, bytes]
    stderr: str = ''

    def array(self, buf: int, dtype=np.int8) -> np.ndarray:
        return np.frombuffer(self.buffers[buf], dtype=dtype).copy()

    def view(self, v: View, dtype=np.int8) -> np.ndarray:
        """The elements of a view as an array [1, h, w, c]."""
        flat = self.array(v.buf, dtype)
        rows = v.offset + np.arange(v.h)[:, None, None] * v.row_stride
        idx = rows + np.arange(v.w)[None, :, None] * v.pix_stride + np.arange(v.c)[None, None, :]
        return flat[idx][None]


@dataclass
class Runtime:
    """A built ``mcu_rt_runner`` and its op table."""

    path: Path
    config: BuildConfig

    def __post_init__(self) -> None:
        proc = subprocess.run([str(self.path), '--ops'], capture_output=True, text=True, check=True)
        self.ops = {name: int(i) for name, i in (line.split() for line in proc.stdout.splitlines())}

    def run(self, program: Program, timeout: float = 300) -> Result:
        """Run ``program``; raise CBuildError on a crash, a bad program or any sanitizer output."""
        env = dict(os.environ)
        # No leak check: the library never allocates, and LeakSanitizer dies under ptrace-restricted CI
        # containers. Out-of-bounds accesses, use-after-free and every UB report stay fatal.
        env['ASAN_OPTIONS'] = 'abort_on_error=0:halt_on_error=1:detect_leaks=0:exitcode=23'
        env['UBSAN_OPTIONS'] = 'print_stacktrace=1:halt_on_error=1:exitcode=24'
        with tempfile.TemporaryDirectory(prefix='mcu_rt_') as tmp:
            prog_path, res_path = Path(tmp) / 'program.bin', Path(tmp) / 'result.bin'
            prog_path.write_bytes(program.to_bytes(self.ops))
            proc = subprocess.run([str(self.path), str(prog_path), str(res_path)], capture_output=True,
                                  text=True, timeout=timeout, env=env)
            if proc.returncode != 0 or proc.stderr.strip():
                raise CBuildError(f'{self.path.name} ({self.config.name}) exited {proc.returncode}:\n'
                                  f'{proc.stderr[-6000:]}')
            raw = res_path.read_bytes()
        return _parse_result(raw)


def _parse_result(raw: bytes) -> Result:
    w = np.frombuffer(raw, dtype='<i4')
    if w[0] != 0x5352434D:
        raise CBuildError('the runner wrote no result')
    n = int(w[1])
    status, info = w[2:2 + 2 * n:2].copy(), w[3:3 + 2 * n:2].copy()
    at = 2 + 2 * n
    n_dumps, at = int(w[at]), at + 1
    buffers = {}
    for _ in range(n_dumps):
        buf, size = int(w[at]), int(w[at + 1])
        buffers[buf] = raw[(at + 2) * 4:(at + 2) * 4 + size]
        at += 2 + (size + 3) // 4
    return Result(status, info, buffers)


# ---------------------------------------------------------------------- IR op -> runtime call
def nhwc(shape: Sequence[int]) -> tuple[int, int, int]:
    """(h, w, c) of a batch-1 tensor of rank <= 4 (missing leading axes are 1)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) > 4 or (len(shape) == 4 and shape[0] != 1):
        raise ValueError(f'shape {shape} is not a batch-1 tensor of rank <= 4')
    full = (1,) * (4 - len(shape)) + shape
    return full[1], full[2], full[3]


def window_args(kernel, stride, dilation, pads: Sequence[int]) -> list[int]:
    """The 10 ints of ``mcu_window_t``: kernel, stride, dilation (h, w each), pads t, b, l, r."""
    return [*kernel, *stride, *dilation, *pads]


def _conv_consts(prog: Program, graph: Graph, op: Op) -> list[int]:
    w = graph.tensor(op.inputs[1]).data
    p = op.params
    args = prog.ptr(prog.const(w, (id(graph), op.name, 'w')))
    if len(op.inputs) > 2:
        bias = graph.tensor(op.inputs[2]).data.astype('<i4')
        args += prog.ptr(prog.const(bias, (id(graph), op.name, 'b')))
    else:
        args += [-1, 0]
    args += prog.ptr(prog.const(np.asarray(p.multiplier, '<i4'), (id(graph), op.name, 'm')))
    args += prog.ptr(prog.const(np.asarray(p.shift, '<i4'), (id(graph), op.name, 's')))
    return args


def emit_op(prog: Program, graph: Graph, op: Op, ins: Sequence[View], out: View,
            pads: Optional[Sequence[int]] = None, kernel: Optional[str] = None) -> int:
    """Append the runtime call that computes ``op`` from ``ins`` into ``out``; returns its index.

    Args:
        prog: The program.
        graph: The finalized graph (constants and parameters are read from it).
        op: The op.
        ins: Views of the inputs (constants excluded); FULLY_CONNECTED, TRANSPOSE, float
            QUANTIZE and DEQUANTIZE need dense views.
        out: View of the output.
        pads: Spatial pads (top, bottom, left, right) replacing the op's own (a patch tile).
        kernel: Force a runner op ('conv2d_generic', 'conv2d_1x1') instead of the dispatcher.
    """
    k, a, p = op.kind, op.attrs, op.params
    if k in ('conv2d', 'depthwise_conv2d'):
        pp = list(pads) if pads is not None else list(a.padding.as_tuple())
        args = ins[0].args() + out.args() + _conv_consts(prog, graph, op)
        args += window_args(a.kernel, a.stride, a.dilation, pp)
        if k == 'depthwise_conv2d':
            args.append(a.depth_multiplier)
        args += [p.input_offset, p.output_offset, p.act_min, p.act_max]
        return prog.call(kernel or ('conv2d' if k == 'conv2d' else 'depthwise'), args)
    if k == 'fully_connected':
        w = graph.tensor(op.inputs[1]).data
        n, kk = w.shape
        _require_dense(op, ins[0], out)
        rows = ins[0].size // kk
        consts = _conv_consts(prog, graph, op)
        args = ins[0].ptr() + [rows, kk] + consts[0:4] + [n] + consts[4:8]
        args += [p.input_offset, p.output_offset, p.act_min, p.act_max] + out.ptr()
        return prog.call('fully_connected', args)
    if k in ('average_pool2d', 'max_pool2d'):
        pp = list(pads) if pads is not None else list(a.padding.as_tuple())
        args = ins[0].args() + out.args() + window_args(a.kernel, a.stride, (1, 1), pp)
        args += [p.act_min, p.act_max]
        return prog.call('avg_pool' if k == 'average_pool2d' else 'max_pool', args)
    if k == 'add':
        m = p.mult
        args = ins[0].args() + ins[1].args() + out.args()
        args += [p.input1_offset, p.input2_offset, m.left_shift, m.input1_multiplier, m.input1_shift,
                 m.input2_multiplier, m.input2_shift, m.output_multiplier, m.output_shift, p.output_offset,
                 p.act_min, p.act_max]
        return prog.call('add', args)
    if k == 'mul':
        args = ins[0].args() + ins[1].args() + out.args()
        args += [p.input1_offset, p.input2_offset, p.multiplier, p.shift, p.output_offset, p.act_min,
                 p.act_max]
        return prog.call('mul', args)
    if k == 'mean':
        shape = graph.tensor(op.inputs[0]).shape
        axes = normalize_axes(a.axes, len(shape))
        lead = 4 - len(shape)
        mask = sum({1: 1, 2: 2, 3: 4}.get(ax + lead, 0) for ax in axes)
        _require_dense(op, out)
        args = ins[0].args() + [mask, p.input_zero_point, p.output_zero_point, p.count, p.multiplier, p.shift]
        return prog.call('mean', args + out.ptr())
    if k == 'pad':
        if pads is not None:
            top, _, left, _ = pads
            front = 0
        else:
            full = ((0, 0),) * (4 - len(a.pads)) + tuple(a.pads)
            if full[0] != (0, 0):
                raise ValueError(f'{op.label()}: padding the batch axis has no runtime kernel')
            top, left, front = full[1][0], full[2][0], full[3][0]
        return prog.call('pad', ins[0].args() + out.args() + [top, left, front, p.pad_value])
    if k == 'resize_nearest':
        in_h, in_w, _ = nhwc(graph.tensor(op.inputs[0]).shape)
        rows = nearest_index(a.size[0], in_h, a.align_corners, a.half_pixel_centers).astype('<i2')
        cols = nearest_index(a.size[1], in_w, a.align_corners, a.half_pixel_centers).astype('<i2')
        args = ins[0].args() + out.args()
        args += prog.ptr(prog.const(rows, (id(graph), op.name, 'rows')))
        args += prog.ptr(prog.const(cols, (id(graph), op.name, 'cols')))
        return prog.call('resize_nearest', args)
    if k == 'concat':
        rank = len(graph.tensor(op.outputs[0]).shape)
        axis = a.axis % rank + (4 - rank)
        if axis == 0:
            raise ValueError(f'{op.label()}: concatenation along the batch axis has no runtime kernel')
        args = [len(ins), axis] + out.args()
        for v in ins:
            args += v.args()
        return prog.call('concat', args)
    if k in ('reshape', 'transpose', 'dequantize') or (k == 'quantize' and p.multiplier is None):
        _require_dense(op, ins[0], out)
    if k == 'reshape':  # no kernel on the device (alias the buffer); here a dense copy
        flat_in = replace(ins[0], h=1, w=1, c=ins[0].size, row_stride=ins[0].size, pix_stride=ins[0].size)
        flat_out = replace(out, h=1, w=1, c=out.size, row_stride=out.size, pix_stride=out.size)
        return prog.call('copy', flat_in.args() + flat_out.args())
    if k == 'transpose':
        shape = graph.tensor(op.inputs[0]).shape
        lead = 4 - len(shape)
        dims = [1] * lead + list(shape)
        perm = list(range(lead)) + [q + lead for q in a.perm]
        return prog.call('transpose', ins[0].ptr() + dims + perm + out.ptr())
    if k == 'quantize':
        if p.multiplier is None:
            return prog.call('quantize_f32', ins[0].ptr() + [ins[0].size, _f32_bits(p.scale), p.zero_point]
                             + out.ptr())
        return prog.call('requantize_map', ins[0].args() + out.args()
                         + [p.input_zero_point, p.multiplier, p.shift, p.zero_point])
    if k == 'dequantize':
        args = ins[0].ptr() + [ins[0].size, _f32_bits(p.scale), p.zero_point] + out.ptr()
        return prog.call('dequantize', args)
    raise ValueError(f'{op.label()}: no runtime kernel')


def scratch_size(graph: Graph, op: Op, inplace: bool = False, in_w: Optional[int] = None,
                 out_h: Optional[int] = None, pad_top: Optional[int] = None) -> int:
    """Scratch bytes of the runtime call for ``op``: the ``mcu_*_scratch_size`` formulas of ``mcu_rt.h``.

    The same for the portable and the DSP build. For the in-place depthwise kernel, ``in_w``,
    ``out_h`` and ``pad_top`` default to the whole map; pass a tile's values for a patch stage.
    """
    if op.kind == 'conv2d':
        _, kh, kw, ci = graph.tensor(op.inputs[1]).shape
        return conv_scratch((kh, kw), ci, op.attrs.padding.as_tuple())
    if op.kind == 'fully_connected':
        return fully_connected_scratch(graph.tensor(op.inputs[1]).shape[1])
    if op.kind == 'depthwise_conv2d' and inplace:
        _, h, w, c = graph.tensor(op.inputs[0]).shape
        oh = graph.tensor(op.outputs[0]).shape[1] if out_h is None else out_h
        top = op.attrs.padding.top if pad_top is None else pad_top
        return inplace_depthwise_scratch(top, oh, w if in_w is None else in_w, c)
    return 0


def emit_depthwise_inplace(prog: Program, graph: Graph, op: Op, io: View, out_hw: tuple[int, int],
                           pads: Optional[Sequence[int]] = None, out: Optional[View] = None) -> int:
    """``mcu_depthwise_conv2d_inplace_s8`` over the input view ``io``.

    ``out``: where the output goes (``mcu_rt.h``: ``io``'s own view, or a pixel-dense view at or
    before it in the same buffer); default the same view, cut to ``out_hw``.
    """
    a, p = op.attrs, op.params
    pp = list(pads) if pads is not None else list(a.padding.as_tuple())
    dst = out if out is not None else replace(io, h=out_hw[0], w=out_hw[1])
    if (dst.h, dst.w) != tuple(out_hw) or dst.buf != io.buf:
        raise ValueError(f'{op.label()}: in-place output {dst} is not {out_hw} in the input\'s buffer')
    args = io.args() + dst.args() + _conv_consts(prog, graph, op)
    args += window_args(a.kernel, a.stride, a.dilation, pp) + [p.input_offset, p.output_offset, p.act_min,
                                                              p.act_max]
    return prog.call('depthwise_inplace', args)


def inplace_ok(op: Op, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """Whether ``mcu_depthwise_conv2d_inplace_s8`` accepts this depthwise op on this window."""
    return (op.kind == 'depthwise_conv2d' and op.attrs.depth_multiplier == 1 and 0 < out_hw[0] <= in_hw[0]
            and 0 < out_hw[1] <= in_hw[1] and op.attrs.kernel[0] <= 32)


def _window_crop(v: View, window: Window, origin: Window) -> View:
    """The part of ``v`` (which holds ``origin`` of a map) covering ``window`` of the same map."""
    return v.crop(window.r0 - origin.r0, window.r1 - origin.r0, window.c0 - origin.c0, window.c1 - origin.c0)


def emit_patch_stage(prog: Program, graph: Graph, plan: PatchPlan, split_tensor: str, x: View, out: View,
                     inplace: bool = True) -> list[int]:
    """Emit the per-patch stage of ``graph`` tile by tile, as a code generator would.

    Mirrors :func:`mcudet.deploy.patch_exec.run_stage`: each layer of a tile reads the crop
    ``in_window`` of the previous layer's tile buffer with the tile's border ``pads`` from the
    plan and writes a tile buffer of ``out_window``; a residual ADD reads its shortcut as a crop of
    the unit's input tile; the last op writes straight into the tile's region of ``out`` (the
    stitched split tensor). With ``inplace``, a depthwise conv overwrites its input tile when the
    kernel allows it and that tile is dead afterwards (not the graph input, not a shortcut).

    Args:
        prog: The program.
        graph: The finalized graph.
        plan: ``plan_from_graph(graph, split_tensor, grid)``.
        split_tensor: Last tensor of the stage.
        x: View of the whole stage input map (int8, or float32 before a QUANTIZE).
        out: View of the whole split tensor map.
        inplace: Use the in-place depthwise kernel where legal.

    Returns:
        The indices of the emitted calls.
    """
    stage = patch_stage(graph, split_tensor)
    if tuple(u.name for u in stage.units) != plan.unit_names:
        raise ValueError(f'plan units {plan.unit_names} do not match the stage of {graph.name!r} ending at '
                         f'{split_tensor!r}')
    calls: list[int] = []
    full = Window(0, x.h, 0, x.w)
    for tile in plan.tiles:
        origin = tile.input_window
        h, h_is_tile = _window_crop(x, origin, full), False
        for u, (uw, unit) in enumerate(zip(tile.units, stage.units)):
            unit_in, unit_origin = h, origin
            last_unit = u == len(stage.units) - 1
            for i, (lw, op) in enumerate(zip(uw.layers, unit.ops)):
                src = _window_crop(h, lw.in_window, origin)
                oh, ow = lw.out_window.hw
                co = graph.tensor(op.outputs[0]).shape[3]
                if last_unit and unit.add is None and i == len(unit.ops) - 1:
                    dst = _window_crop(out, tile.out_window, Window(0, out.h, 0, out.w))
                elif (inplace and h_is_tile and not (unit.add is not None and h is unit_in)
                      and inplace_ok(op, (src.h, src.w), (oh, ow))):
                    calls.append(emit_depthwise_inplace(prog, graph, op, src, (oh, ow), lw.pads))
                    h, origin = replace(src, h=oh, w=ow), lw.out_window
                    continue
                else:
                    dst = prog.map(prog.buffer(oh * ow * co, dump=False), oh, ow, co)
                if op.kind == 'quantize' and src.itemsize == 4:  # float rows: one dense call per row
                    for r in range(src.h):
                        calls.append(emit_op(prog, graph, op, [src.crop(r, r + 1, 0, src.w)],
                                             dst.crop(r, r + 1, 0, dst.w)))
                else:
                    calls.append(emit_op(prog, graph, op, [src], dst, pads=lw.pads))
                h, origin, h_is_tile = dst, lw.out_window, True
            if unit.add is not None:
                shortcut = _window_crop(unit_in, uw.residual_window, unit_origin)
                oh, ow = uw.out_window.hw
                co = graph.tensor(unit.add.outputs[0]).shape[3]
                dst = (_window_crop(out, tile.out_window, Window(0, out.h, 0, out.w)) if last_unit
                       else prog.map(prog.buffer(oh * ow * co, dump=False), oh, ow, co))
                args = [shortcut, h] if unit.shortcut_first else [h, shortcut]
                calls.append(emit_op(prog, graph, unit.add, args, dst))
                h, origin, h_is_tile = dst, uw.out_window, True
    return calls


def _require_dense(op: Op, *views: View) -> None:
    for v in views:
        if not v.dense:
            raise ValueError(f'{op.label()}: the runtime kernel needs a dense buffer, got {v}')


def _f32_bits(x: Union[float, np.floating]) -> int:
    return int(np.array([x], dtype='<f4').view('<i4')[0])


__all__ = ['ARM_CPUS', 'BuildConfig', 'CBuildError', 'FLOAT_SOURCES', 'HOST_CONFIGS', 'Program', 'Result',
           'Runtime', 'View', 'build_runtime', 'compile_arm', 'emit_depthwise_inplace', 'emit_op',
           'build_runtimes', 'emit_patch_stage', 'float_helpers', 'inplace_ok', 'nhwc', 'runtime_sources',
           'scratch_size', 'window_args']
