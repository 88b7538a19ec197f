"""Every runtime kernel equals the NumPy reference executor bit for bit (design/int8.md).

Random one-op graphs from mcudet.deploy.synthetic (plus wider conv / depthwise / FC cases),
run in C on strided views inside guarded frames, for the portable and the DSP-emulated build,
each plain (-O2 -Wall -Wextra -Werror) and under AddressSanitizer + UndefinedBehaviorSanitizer
(every report fatal; the runner's stderr must stay empty).
"""
from __future__ import annotations

import numpy as np
import pytest

from mcudet.deploy.cbuild import Program, Runtime, emit_depthwise_inplace, emit_op, scratch_size
from mcudet.deploy.reference import eval_op
from mcudet.deploy.synthetic import OP_CASE_KINDS

from .harness import Check, Harness, op_cases

FAST_CASES = 40
SLOW_CASES = 400


def _check(runtime: Runtime, kind: str, start: int, count: int) -> None:
    h = Harness(np.random.default_rng(count))
    for case in op_cases(kind, start, count):
        h.add_case(case)
        op = case.op
        if kind == 'conv2d' and op.attrs.kernel == (1, 1):
            h.add_case(case, kernel='conv2d_generic')  # the general kernel on the 1x1 cases too
            if op.attrs.padding.as_tuple() == (0, 0, 0, 0):
                h.add_case(case, kernel='conv2d_1x1')
        if kind == 'depthwise_conv2d':
            h.add_inplace_case(case)
            h.add_inplace_case(case, dense=True)
    h.verify(runtime)


@pytest.mark.parametrize('kind', OP_CASE_KINDS)
def test_kernel_matches_reference(runtime: Runtime, kind: str) -> None:
    _check(runtime, kind, 0, FAST_CASES)


@pytest.mark.slow
@pytest.mark.parametrize('kind', OP_CASE_KINDS)
def test_kernel_matches_reference_many_cases(runtime: Runtime, kind: str) -> None:
    _check(runtime, kind, FAST_CASES, SLOW_CASES)


def test_inplace_depthwise_covers_padding_and_strides(runtimes) -> None:
    """The in-place kernel (both output layouts) ran on cases with top padding (the ring of saved
    rows) and stride 2."""
    seen = set()
    h = Harness(np.random.default_rng(0))
    for case in op_cases('depthwise_conv2d', 0, 200):
        a = case.op.attrs
        if h.add_inplace_case(case) and h.add_inplace_case(case, dense=True):
            seen.add((a.padding.top > 0, a.stride[0], a.kernel[0]))
    assert {(True, 1), (True, 2), (False, 1), (False, 2)} <= {s[:2] for s in seen}
    assert {1, 3, 5, 7} <= {s[2] for s in seen}
    h.verify(runtimes['dsp-asan'])
    h.verify(runtimes['portable-asan'])


def test_scratch_sizes_are_the_documented_formulas(runtimes) -> None:
    """Each call's scratch (allocated at exactly the size the C query returns) equals the Python
    mirror the memory planner uses (cbuild.scratch_size)."""
    h = Harness(np.random.default_rng(1))
    expected = []
    cases = sum((op_cases(k, 0, 30) for k in ('conv2d', 'fully_connected', 'depthwise_conv2d')), ())
    for case in cases:
        if case.op.kind == 'depthwise_conv2d':
            if h.add_inplace_case(case):
                expected.append(scratch_size(case.graph, case.op, inplace=True))
            h.add_case(case)
            expected.append(scratch_size(case.graph, case.op))
        else:
            h.add_case(case)
            expected.append(scratch_size(case.graph, case.op))
    assert len(h.prog.calls) == len(expected) and len(set(expected)) > 10
    res = h.verify(runtimes['portable'])
    assert res.info.tolist() == expected


@pytest.mark.filterwarnings('ignore:divide by zero:RuntimeWarning')  # the reference's 0-tap average
def test_empty_input_windows(runtimes) -> None:
    """A tile whose taps all fall into the border reads an empty window: bias-only / pad-only outputs."""
    h = Harness(np.random.default_rng(5))
    n = 0
    for kind in ('conv2d', 'depthwise_conv2d', 'average_pool2d', 'max_pool2d'):
        for case in op_cases(kind, 0, 60):
            a = case.op.attrs
            k = a.kernel[0]
            if a.stride[0] != 1 or a.dilation[0] != 1 or k < 2:
                continue
            x = case.inputs[0][:, :0]  # no rows at all
            pads = (k - 1, 1, *a.padding.as_tuple()[2:])  # one output row, every tap in the border
            want = eval_op(case.graph, case.op, [x] + [None] * (len(case.op.inputs) - 1), pads=pads)
            assert want.shape[1] == 1
            xv = h.prog.map(h.prog.buffer(data=case.inputs[0], dump=False), 0, x.shape[2], x.shape[3])
            out = h.prog.map(h.prog.buffer(want.size), *want.shape[1:])
            call = emit_op(h.prog, case.graph, case.op, [xv], out, pads=pads)
            h.checks.append(Check(f'{case.label} empty window', out.buf, want.reshape(-1), np.dtype(np.int8),
                                  call))
            n += 1
    assert n > 20
    for name in ('portable-asan', 'dsp-asan'):
        h.verify(runtimes[name])


def test_bad_geometry_is_refused(runtimes) -> None:
    """Views that disagree with the window give MCU_RT_ERR_SHAPE (-1), not a wrong result."""
    prog = Program()
    calls = []
    conv = next(c for c in op_cases('conv2d', 0, 60) if c.op.attrs.kernel == (3, 3))
    dw = next(c for c in op_cases('depthwise_conv2d', 0, 60) if c.op.attrs.depth_multiplier == 1
              and c.op.attrs.stride == (1, 1))
    for case in (conv, dw):
        x = case.inputs[0]
        xv = prog.map(prog.buffer(data=x), *x.shape[1:])
        oh, ow, oc = case.expected.shape[1:]
        wrong = prog.map(prog.buffer((oh + 1) * ow * oc), oh + 1, ow, oc)  # one row too many
        calls.append(emit_op(prog, case.graph, case.op, [xv], wrong))
        if case is conv:
            calls.append(emit_op(prog, case.graph, case.op, [xv], wrong, kernel='conv2d_1x1'))  # not a 1x1
    # the in-place kernel: an output one row too many, and outputs in layouts mcu_rt.h does not allow
    x = dw.inputs[0]
    h, w, c = x.shape[1:]
    oh, ow = dw.expected.shape[1:3]
    big = prog.buffer(data=np.concatenate([x.reshape(-1), np.zeros(h * w + 2 * w * c + c, np.int8)]))
    io = prog.map(big, h, w, c)
    tall = prog.map(big, h + 1, w, c)
    calls.append(emit_depthwise_inplace(prog, dw.graph, dw.op, io, (h + 1, w), out=tall))
    after = prog.map(big, oh, ow, c, offset=c)  # starts after the input
    calls.append(emit_depthwise_inplace(prog, dw.graph, dw.op, io, (oh, ow), out=after))
    wide = prog.map(big, oh, ow, c, row_stride=(w + 1) * c)  # a row pitch wider than the input's
    calls.append(emit_depthwise_inplace(prog, dw.graph, dw.op, io, (oh, ow), out=wide))
    loose = prog.map(big, oh, ow, c, row_stride=ow * (c + 1), pix_stride=c + 1)  # not pixel-dense
    calls.append(emit_depthwise_inplace(prog, dw.graph, dw.op, io, (oh, ow), out=loose))
    res = runtimes['dsp-asan'].run(prog)
    assert res.status[calls].tolist() == [-1] * len(calls)


def test_inplace_pointwise_expand_and_elementwise(runtime: Runtime) -> None:
    """The in-place uses mcu_rt.h allows besides depthwise (the memory planner's 'pointwise',
    'expand' and 'elementwise' rules): the output over its dying input gives the same values."""
    rng = np.random.default_rng(9)
    h = Harness(rng)
    prog = h.prog
    n_conv = {'pointwise': 0, 'expand': 0}
    for case in op_cases('conv2d', 0, 300):
        a = case.op.attrs
        if a.kernel != (1, 1) or a.stride != (1, 1) or a.padding.as_tuple() != (0, 0, 0, 0):
            continue
        x, y = case.inputs[0], case.expected
        _, hh, ww, ci = x.shape
        co, n = y.shape[3], hh * ww
        delta = -(-max(0, (co - ci) * (n - 1)) // 4) * 4  # the output starts this far before the input
        frame = rng.integers(-128, 128, size=max(delta + n * ci, n * co) + 8).astype(np.int8)
        frame[delta:delta + n * ci] = x.ravel()
        buf = prog.buffer(data=frame)
        call = emit_op(prog, case.graph, case.op, [prog.map(buf, hh, ww, ci, offset=delta)],
                       prog.map(buf, hh, ww, co), kernel=str(rng.choice(['conv2d', 'conv2d_1x1'])))
        want = frame.copy()
        want[:n * co] = y.ravel()
        rule = 'expand' if co > ci else 'pointwise'
        h.checks.append(Check(f'{case.label} [{rule} in place]', buf, want, np.dtype(np.int8), call))
        n_conv[rule] += 1
        if co <= ci and hh > 1:
            # 'pointwise' over an in-place depthwise's output view: rows further apart than the
            # dense width (its input's row pitch); the dense output starts at the same address.
            pitch = (ww + int(rng.integers(1, 4))) * ci
            frame = rng.integers(-128, 128, size=hh * pitch + 8).astype(np.int8)
            for r in range(hh):
                frame[r * pitch:r * pitch + ww * ci] = x[0, r].ravel()
            buf = prog.buffer(data=frame)
            call = emit_op(prog, case.graph, case.op, [prog.map(buf, hh, ww, ci, row_stride=pitch)],
                           prog.map(buf, hh, ww, co), kernel=str(rng.choice(['conv2d', 'conv2d_1x1'])))
            want = frame.copy()
            want[:n * co] = y.ravel()
            h.checks.append(Check(f'{case.label} [pointwise in place, row pitch {pitch}]', buf, want,
                                  np.dtype(np.int8), call))
            n_conv['pitched'] = n_conv.get('pitched', 0) + 1
    assert min(n_conv.values()) >= 5, n_conv
    for kind in ('add', 'mul', 'requantize'):
        for case in op_cases(kind, 0, 20):
            g, op = case.graph, case.op
            views = [h.input_view(x, strided=True) for x in case.inputs]
            a = views[0]  # the output goes over the first operand: its buffer is written back
            prog.dumps.append(a.buf)
            frame = np.frombuffer(prog.buffers[a.buf][1], np.int8).copy()
            call = emit_op(prog, g, op, views, a)
            want = frame.copy()
            idx = (a.offset + np.arange(a.h)[:, None, None] * a.row_stride
                   + np.arange(a.w)[None, :, None] * a.pix_stride + np.arange(a.c)[None, None, :])
            want[idx] = case.expected.reshape(a.h, a.w, a.c)
            h.checks.append(Check(f'{case.label} [elementwise in place]', a.buf, want, np.dtype(np.int8),
                                  call))
    h.verify(runtime)
