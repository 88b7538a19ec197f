"""Test cases for the C runtime: one-op graphs, their NumPy reference outputs, and the runner
programs that compute them in C on strided views inside guarded frames.

Every input is placed, at a random offset, inside a larger random frame (a crop: row and pixel
strides larger than the window), every output region inside a frame of random canary bytes;
a case passes when the whole output frame equals the canary frame with the reference output
written into the region: the values are bit-exact and nothing outside the region was touched.
Kernels that take dense arrays (FC, transpose, float quantize, dequantize, MEAN's output) get a
dense window inside a guarded buffer.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Optional

import numpy as np

from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.cbuild import (
    Program,
    Result,
    Runtime,
    View,
    emit_depthwise_inplace,
    emit_op,
    inplace_ok,
    nhwc,
)
from mcudet.deploy.ir import DTYPES, Graph, Op
from mcudet.deploy.ops import Padding, out_size
from mcudet.deploy.reference import eval_op
from mcudet.deploy.synthetic import OP_CASE_KINDS, random_op_graph

#: Kinds whose kernels read strided views (the others need dense arrays).
STRIDED_IN = ('conv2d', 'depthwise_conv2d', 'average_pool2d', 'max_pool2d', 'add', 'mul', 'mean', 'pad',
              'resize_nearest', 'concat', 'requantize')
STRIDED_OUT = tuple(k for k in STRIDED_IN if k != 'mean')
#: Kinds with extra hand-made cases (larger channel counts, 7x7, stride 2) beyond synthetic's.
EXTRA_KINDS = ('conv2d', 'depthwise_conv2d', 'fully_connected')


@dataclass
class OpCase:
    """A one-op graph, its inputs and the reference output."""

    label: str
    graph: Graph
    inputs: list[np.ndarray]
    expected: np.ndarray

    @property
    def op(self) -> Op:
        return self.graph.ops[0]


def _kind_of(graph: Graph) -> str:
    op = graph.ops[0]
    if op.kind == 'quantize' and graph.tensor(op.inputs[0]).dtype == 'int8':
        return 'requantize'
    return op.kind


def _case(label: str, graph: Graph, inputs: list[np.ndarray]) -> OpCase:
    op = graph.ops[0]
    expected = eval_op(graph, op, [inputs[graph.inputs.index(n)] if n in graph.inputs else None
                                   for n in op.inputs])
    return OpCase(label, graph, inputs, np.asarray(expected))


# ---------------------------------------------------------------------- extra cases
def _conv_like(kind: str, rng: np.random.Generator) -> tuple[Graph, list[np.ndarray]]:
    """Wider conv / depthwise / FC cases than synthetic's (DSP groups of 4 and their tails, 7x7, stride 2)."""
    b = GraphBuilder(f'extra_{kind}')
    s_in, zp_in = float(np.float32(10 ** rng.uniform(-2.5, 0))), int(rng.integers(-128, 128))
    act = str(rng.choice(['none', 'relu', 'relu6']))
    zp_out = -128 if act != 'none' and rng.random() < 0.7 else int(rng.integers(-30, 31))
    if kind == 'fully_connected':
        k, n = int(rng.integers(1, 200)), int(rng.integers(1, 40))
        rows = int(rng.choice([1, 1, 2, 3]))
        x = b.input('x', (rows, k), s_in, zp_in)
        w = rng.integers(-127, 128, size=(n, k)).astype(np.int8)
        w_scale = (10 ** rng.uniform(-3, -1, size=n)).astype(np.float32)
        taps = k
    else:
        kk = int(rng.choice([1, 1, 3, 3, 5, 7] if kind == 'depthwise_conv2d' else [1, 1, 1, 3, 5]))
        s = int(rng.choice([1, 2]))
        hw = (int(rng.integers(kk, 16)), int(rng.integers(kk, 16)))
        pad = [Padding.symmetric((kk, kk)), Padding.same(hw, (kk, kk), (s, s)), Padding(),
               Padding(*(int(v) for v in rng.integers(0, kk, size=4)))][int(rng.integers(4))]
        if kk == 1 and rng.random() < 0.7:
            pad = Padding()
        if min(out_size(hw[a], kk, s, 1, *pad.axis(a)) for a in (0, 1)) < 1:
            pad = Padding.symmetric((kk, kk))
        ci = int(rng.choice([3, 4, 8, 13, 16, 24, 35]))
        x = b.input('x', (1, *hw, ci), s_in, zp_in)
        if kind == 'conv2d':
            co = int(rng.choice([1, 2, 5, 8, 16, 33]))
            w = rng.integers(-127, 128, size=(co, kk, kk, ci)).astype(np.int8)
            taps = kk * kk * ci
        else:
            co = ci * int(rng.choice([1, 1, 1, 2]))
            w = rng.integers(-127, 128, size=(1, kk, kk, co)).astype(np.int8)
            taps = kk * kk
        n = co
        w_scale = (10 ** rng.uniform(-3, -1, size=co)).astype(np.float32)
    real_std = s_in * float(np.mean(w_scale)) * 74.0 * 73.0 * np.sqrt(taps)
    out_scale = float(np.float32(real_std / 40.0 * 10 ** rng.uniform(-0.7, 0.7)))
    bias = rng.integers(-20000, 20000, size=n).astype(np.int32) if rng.random() < 0.9 else None
    if kind == 'fully_connected':
        y = b.fully_connected('op', x, w, bias, w_scale, out_scale, zp_out, act)
        shape = (rows, k)
    else:
        fn = b.conv2d if kind == 'conv2d' else b.depthwise_conv2d
        y = fn('op', x, w, bias, w_scale, out_scale, zp_out, (s, s), pad, (1, 1), act)
        shape = (1, *hw, ci)
    b.output(y)
    return b.build(), [rng.integers(-128, 128, size=shape).astype(np.int8)]


@cache
def op_cases(kind: str, start: int, count: int) -> tuple[OpCase, ...]:
    """``count`` seeded cases of ``kind`` (an entry of synthetic.OP_CASE_KINDS), from seed ``start``."""
    if kind not in OP_CASE_KINDS:
        raise ValueError(f'kind {kind!r} is not one of {OP_CASE_KINDS}')
    cases = []
    for seed in range(start, start + count):
        rng = np.random.default_rng([zlib.crc32(kind.encode()), seed])
        if kind in EXTRA_KINDS and seed % 3 == 2:
            graph, inputs = _conv_like(kind, rng)
            cases.append(_case(f'{kind} extra seed {seed}', graph, inputs))
        else:
            graph, inputs = random_op_graph(kind, rng)
            cases.append(_case(f'{kind} seed {seed}', graph, inputs))
    return tuple(cases)


# ---------------------------------------------------------------------- programs with guarded frames
@dataclass
class Check:
    """What one case expects in one buffer after the program ran."""

    label: str
    buf: int
    want: np.ndarray  # the whole buffer, as bytes of ``dtype``
    dtype: np.dtype
    call: int


@dataclass
class Harness:
    """Builds a program of many cases; :meth:`verify` runs it and reports every mismatch."""

    rng: np.random.Generator
    prog: Program = field(default_factory=Program)
    checks: list[Check] = field(default_factory=list)

    def _frame(self, h: int, w: int, c: int, strided: bool) -> tuple[int, int, int, int, int, int]:
        """Frame dims (H, W, C) and window origin (r0, c0, ch0); all zero margins when dense."""
        if not strided or self.rng.random() < 0.25:
            return h, w, c, 0, 0, 0
        dh, dw, dc = (int(v) for v in self.rng.integers(0, 4, size=3))
        r0, c0, ch0 = (int(self.rng.integers(0, d + 1)) for d in (dh, dw, dc))
        return h + dh, w + dw, c + dc, r0, c0, ch0

    def _window(self, buf: int, frame_dims: tuple[int, ...], h: int, w: int, c: int) -> View:
        _, fw, fc, r0, c0, ch0 = frame_dims
        offset = (r0 * fw + c0) * fc + ch0
        return self.prog.map(buf, h, w, c, offset=offset, row_stride=fw * fc, pix_stride=fc)

    def input_view(self, x: np.ndarray, strided: bool) -> View:
        """Place ``x`` (any batch-1 tensor) in a random frame; return its view."""
        if x.dtype != np.int8:  # float32 input: a dense buffer
            buf = self.prog.buffer(data=x.astype('<f4'), dump=False)
            h, w, c = nhwc(x.shape)
            return self.prog.map(buf, h, w, c, itemsize=4)
        h, w, c = nhwc(x.shape)
        dims = self._frame(h, w, c, strided)
        fh, fw, fc, r0, c0, ch0 = dims
        frame = self.rng.integers(-128, 128, size=(fh, fw, fc)).astype(np.int8)
        frame[r0:r0 + h, c0:c0 + w, ch0:ch0 + c] = x.reshape(h, w, c)
        return self._window(self.prog.buffer(data=frame, dump=False), dims, h, w, c)

    def output_view(self, shape: Sequence[int], dtype: str, strided: bool) -> tuple[View, np.ndarray, tuple]:
        """A canary frame for an output of ``shape``; returns (view, frame, index of the window)."""
        h, w, c = nhwc(shape) if strided else (1, 1, int(np.prod(shape)))
        np_dtype = np.dtype(DTYPES[dtype]).newbyteorder('<')
        if dtype == 'float32':
            frame = self.rng.standard_normal(h * w * c + 8).astype(np_dtype)
            buf = self.prog.buffer(data=frame)
            return self.prog.map(buf, h, w, c, offset=3, itemsize=4), frame, (slice(3, 3 + h * w * c),)
        if not strided:  # dense window between two guard zones
            frame = self.rng.integers(-128, 128, size=h * w * c + 16).astype(np.int8)
            buf = self.prog.buffer(data=frame)
            return self.prog.map(buf, h, w, c, offset=5), frame, (slice(5, 5 + h * w * c),)
        dims = self._frame(h, w, c, True)
        fh, fw, fc, r0, c0, ch0 = dims
        frame = self.rng.integers(-128, 128, size=(fh, fw, fc)).astype(np.int8)
        view = self._window(self.prog.buffer(data=frame), dims, h, w, c)
        return view, frame, (slice(r0, r0 + h), slice(c0, c0 + w), slice(ch0, ch0 + c))

    def add_case(self, case: OpCase, kernel: Optional[str] = None) -> None:
        g, op = case.graph, case.op
        kind = _kind_of(g)
        views = [self.input_view(x, kind in STRIDED_IN) for x in case.inputs]
        ins = [views[g.inputs.index(n)] for n in op.inputs if n in g.inputs]
        out_t = g.tensor(op.outputs[0])
        view, frame, where = self.output_view(out_t.shape, out_t.dtype, kind in STRIDED_OUT)
        call = emit_op(self.prog, g, op, ins, view, kernel=kernel)
        want = frame.copy()
        want[where] = case.expected.reshape(want[where].shape)
        self.checks.append(Check(f'{case.label} [{kernel or op.kind}]', view.buf, want, frame.dtype, call))

    def add_inplace_case(self, case: OpCase, dense: bool = False) -> bool:
        """The depthwise case through the in-place kernel, when the geometry allows it: the output in
        the input's own view (inside a guarded frame), or with ``dense`` pixel-dense at the start of
        a buffer whose crop is the input (mcu_rt.h's second layout: the memory plan's tile buffers)."""
        op = case.op
        x = case.inputs[0]
        in_hw, out_hw = x.shape[1:3], case.expected.shape[1:3]
        if not inplace_ok(op, in_hw, out_hw):
            return False
        h, w, c = nhwc(x.shape)
        if dense:
            r0, c0 = (int(v) for v in self.rng.integers(0, 3, size=2))
            fh, fw = h + r0 + int(self.rng.integers(0, 2)), w + c0 + int(self.rng.integers(0, 3))
            dims = (fh, fw, c, r0, c0, 0)
        else:
            dims = self._frame(h, w, c, True)
        fh, fw, fc, r0, c0, ch0 = dims
        frame = self.rng.integers(-128, 128, size=(fh, fw, fc)).astype(np.int8)
        frame[r0:r0 + h, c0:c0 + w, ch0:ch0 + c] = x[0]
        buf = self.prog.buffer(data=frame)
        view = self._window(buf, dims, h, w, c)
        want = frame.copy()
        if dense:
            out = self.prog.map(buf, *out_hw, c)
            want.reshape(-1)[:case.expected.size] = case.expected.reshape(-1)
        else:
            out = None
            want[r0:r0 + out_hw[0], c0:c0 + out_hw[1], ch0:ch0 + c] = case.expected[0]
        call = emit_depthwise_inplace(self.prog, case.graph, op, view, out_hw, out=out)
        label = 'depthwise in place, dense output' if dense else 'depthwise in place'
        self.checks.append(Check(f'{case.label} [{label}]', buf, want, frame.dtype, call))
        return True

    def verify(self, runtime: Runtime) -> Result:
        """Run the program; fail with every mismatching case named."""
        res = runtime.run(self.prog)
        errors = []
        for chk in self.checks:
            st = int(res.status[chk.call])
            got = np.frombuffer(res.buffers[chk.buf], dtype=chk.dtype).reshape(chk.want.shape)
            if st != 0:
                errors.append(f'{chk.label}: status {st}')
            elif chk.dtype.kind == 'f':
                if not np.array_equal(got.view(np.int32), chk.want.view(np.int32)):
                    errors.append(f'{chk.label}: float bits differ')
            elif not np.array_equal(got, chk.want):
                errors.append(f'{chk.label}: {np.count_nonzero(got != chk.want)} of {got.size} bytes differ')
        if errors:
            raise AssertionError(f'{runtime.config.name}: {len(errors)} of {len(self.checks)} cases fail:\n'
                                 + '\n'.join(errors[:20]))
        return res
