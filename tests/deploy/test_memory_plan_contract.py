"""The in-place contract the planner hands to the C runtime (``mcudet/deploy/memplan/kernels.py``),
played out byte by byte on a flat buffer with the reference kernels.

* pointwise / expand: pixels in raster order, each block read before its outputs are written,
  the output ``delta`` bytes before the input: no input byte is overwritten before it is read.
* depthwise (mcu_depthwise_conv2d_inplace_s8's algorithm): output pixel (y, x) written where
  input pixel (y, x) was, rows top to bottom, each input row saved in a ring of
  ``min(pad_top + 1, out_h)`` rows (the declared scratch) just before it is overwritten; every
  row the kernel reads is either still intact or in the ring.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.memplan.kernels import (
    KernelCall,
    align,
    default_scratch_bytes,
    depthwise_extent,
    inplace_rule,
)
from mcudet.deploy.ops import Padding
from mcudet.deploy.reference import eval_op


def one_op(kind: str, h: int, w: int, ci: int, co: int, kernel: int, stride: int, padding, seed: int):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(kind)
    x = b.input('x', (1, h, w, ci), 0.05, int(rng.integers(-20, 20)))
    bias = rng.integers(-500, 500, size=co).astype(np.int32)
    if kind == 'conv2d':
        wt = rng.integers(-127, 128, size=(co, 1, 1, ci)).astype(np.int8)
        y = b.conv2d('op', x, wt, bias, 0.01, 0.2, 3)
    else:
        wt = rng.integers(-127, 128, size=(1, kernel, kernel, ci)).astype(np.int8)
        pad = {'sym': None, 'same': Padding.same((h, w), (kernel, kernel), (stride, stride)),
               'valid': Padding()}
        y = b.depthwise_conv2d('op', x, wt, bias, 0.01, 0.2, 3, (stride, stride), pad[padding])
    b.output(y)
    g = b.build()
    return g, g.op('op'), rng.integers(-128, 128, size=(1, h, w, ci)).astype(np.int8)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 2]),
       st.integers(0, 99))
def test_pointwise_and_expand_in_place(h: int, w: int, ci: int, co: int, block: int, seed: int) -> None:
    g, op, x = one_op('conv2d', h, w, ci, co, 1, 1, None, seed)
    rule, delta = inplace_rule(op, 0, x.shape, (1, h, w, co), 'int8', ('pointwise', 'expand'))
    assert rule == ('pointwise' if co <= ci else 'expand')
    delta = align(delta)
    n = h * w
    # the block of pixels read before writing fits the declared scratch (2 pixels of int16 = 4 of int8)
    assert default_scratch_bytes(KernelCall(op, x.shape, (1, h, w, co), in_place=rule)) >= ci * block
    buf = np.random.default_rng(seed).integers(0, 256, delta + max(ci, co) * n + 8, dtype=np.uint8)
    buf[delta:delta + ci * n] = x.reshape(-1).view(np.uint8)
    written = np.zeros(buf.size, dtype=bool)
    for p0 in range(0, n, block):
        p1 = min(n, p0 + block)
        src = slice(delta + ci * p0, delta + ci * p1)
        assert not written[src].any(), f'pixels {p0}..{p1} read after being overwritten'
        pixels = buf[src].copy().view(np.int8).reshape(1, 1, p1 - p0, ci)
        buf[co * p0:co * p1] = eval_op(g, op, [pixels]).reshape(-1).view(np.uint8)
        written[co * p0:co * p1] = True
    got = buf[:co * n].view(np.int8).reshape(1, h, w, co)
    assert np.array_equal(got, eval_op(g, op, [x]))
    assert max(delta + ci * n, co * n) <= align(max(ci, co) * n) + 4  # footprint max(in, out)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 3), st.sampled_from([1, 3, 5, 7]),
       st.sampled_from([1, 2]), st.sampled_from(['sym', 'same', 'valid']), st.integers(0, 99))
def test_depthwise_in_place_with_the_declared_row_scratch(h: int, w: int, c: int, k: int, s: int,
                                                          padding: str, seed: int) -> None:
    if padding == 'valid' and (k > h or k > w):
        return
    g, op, x = one_op('depthwise_conv2d', h, w, c, c, k, s, padding, seed)
    out_shape = g.tensor(op.outputs[0]).shape
    ho, wo = out_shape[1:3]
    if inplace_rule(op, 0, x.shape, out_shape, 'int8', ('depthwise',)) is None:
        assert ho > h or wo > w
        return
    pt, pb, pl, pr = op.attrs.padding.as_tuple()
    cap = default_scratch_bytes(KernelCall(op, x.shape, out_shape, (pt, pb, pl, pr), 'depthwise'))
    row = w * c
    ring_n = cap // row
    assert cap == ring_n * row and ring_n == min(pt + 1, ho)
    buf = x.reshape(-1).view(np.uint8).copy()
    ring: dict[int, tuple[int, np.ndarray]] = {}  # slot -> (input row, its saved bytes)
    for y in range(ho):
        ring[y % ring_n] = (y, buf[y * row:(y + 1) * row].copy())  # save input row y before it goes
        top = y * s - pt
        rows = range(max(top, 0), min(top + k, h))
        slab = []
        for r in rows:
            if r <= y:  # overwritten (or about to be): it must be in the ring
                saved_row, data = ring[r % ring_n]
                assert saved_row == r, f'output row {y} needs input row {r}; the ring holds {saved_row}'
                slab.append(data)
            else:
                slab.append(buf[r * row:(r + 1) * row].copy())
        xs = np.stack(slab).view(np.int8).reshape(1, len(rows), w, c)
        pads = (max(0, -top), max(0, top + k - h), pl, pr)
        out_row = eval_op(g, op, [xs], pads=pads)
        assert out_row.shape == (1, 1, wo, c)
        buf[y * row:y * row + wo * c] = out_row.reshape(-1).view(np.uint8)  # input's row pitch
    got = buf.reshape(h, w, c)[:ho, :wo].view(np.int8)[None]
    assert np.array_equal(got, eval_op(g, op, [x]))
    assert depthwise_extent(x.shape, out_shape) == ((ho - 1) * w + wo) * c
