"""The in-place contract the planner hands to the C runtime (``mcudet/deploy/memplan/kernels.py``),
played out byte by byte on a flat buffer with the reference kernels.

* pointwise / expand: pixels in raster order, each block read before its outputs are written,
  the output ``delta`` bytes before the input: no input byte is overwritten before it is read.
* depthwise (mcu_depthwise_conv2d_inplace_s8's algorithm): the input a crop of a buffer (row
  pitch >= its width, at some offset), the output dense from the buffer's start; slice by slice
  of ``INPLACE_DW_CHANNELS`` channels, rows top to bottom, each input row's slice saved in a ring
  of ``min(pad_top + 1, out_h)`` rows (the declared scratch) just before its output row is
  written; every row the kernel reads is either in the ring or still intact, and a slice's
  outputs never touch another slice's inputs.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.memplan.kernels import (
    INPLACE_DW_CHANNELS,
    KernelCall,
    align,
    default_scratch_bytes,
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


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 2 * INPLACE_DW_CHANNELS + 3),
       st.sampled_from([1, 3, 5, 7]), st.sampled_from([1, 2]), st.sampled_from(['sym', 'same', 'valid']),
       st.integers(0, 2), st.integers(0, 3), st.integers(0, 99))
def test_depthwise_in_place_with_the_declared_row_scratch(h: int, w: int, c: int, k: int, s: int,
                                                          padding: str, r0: int, c0: int, seed: int) -> None:
    if padding == 'valid' and (k > h or k > w):
        return
    g, op, x = one_op('depthwise_conv2d', h, w, c, c, k, s, padding, seed)
    out_shape = g.tensor(op.outputs[0]).shape
    ho, wo = out_shape[1:3]
    if inplace_rule(op, 0, x.shape, out_shape, 'int8', ('depthwise',)) != ('depthwise', 0):
        assert ho > h or wo > w
        return
    pt, pb, pl, pr = op.attrs.padding.as_tuple()
    cap = default_scratch_bytes(KernelCall(op, x.shape, out_shape, (pt, pb, pl, pr), 'depthwise'))
    ring_n = min(pt + 1, ho)
    assert cap == ring_n * w * min(c, INPLACE_DW_CHANNELS)
    # the tile buffer: (h + r0) x (w + c0) pixels, the input its crop at (r0, c0); flat, byte by byte
    bw = w + c0
    buf = np.random.default_rng(seed).integers(0, 256, (h + r0) * bw * c, dtype=np.uint8)
    buf.reshape(h + r0, bw, c)[r0:, c0:] = x[0].view(np.uint8)

    def at_in(y: int, x0: int, ch: int) -> int:  # flat index of input pixel (y, x0), channel ch
        return ((y + r0) * bw + x0 + c0) * c + ch

    for ch0 in range(0, c, INPLACE_DW_CHANNELS):
        ch = list(range(ch0, min(c, ch0 + INPLACE_DW_CHANNELS)))
        n = len(ch)
        assert ring_n * w * n <= cap
        ring: dict[int, tuple[int, np.ndarray]] = {}  # slot -> (input row, its saved slice)
        for y in range(ho):
            ring[y % ring_n] = (y, np.array([[buf[at_in(y, i, j)] for j in ch] for i in range(w)]))
            top = y * s - pt
            rows = range(max(top, 0), min(top + k, h))
            slab = np.zeros((len(rows), w, c), np.uint8)  # other channels: never read by this slice
            for i, r in enumerate(rows):
                if r <= y:  # its output row is written (or about to be): it must be in the ring
                    saved_row, data = ring[r % ring_n]
                    assert saved_row == r, f'output row {y} needs input row {r}; the ring holds {saved_row}'
                    slab[i][:, ch] = data
                else:  # below: intact, as every output written so far lies before input row y + 1
                    slab[i][:, ch] = [[buf[at_in(r, x0, j)] for j in ch] for x0 in range(w)]
            pads = (max(0, -top), max(0, top + k - h), pl, pr)
            out_row = eval_op(g, op, [slab.view(np.int8)[None]], pads=pads)
            assert out_row.shape == (1, 1, wo, c)
            for x0 in range(wo):
                for j in ch:
                    pos = (y * wo + x0) * c + j  # dense from the buffer's start
                    assert pos % c == j and pos < at_in(y + 1, 0, 0) if y + 1 < h else True
                    buf[pos] = out_row[0, 0, x0, j].view(np.uint8)
    got = buf[:ho * wo * c].view(np.int8).reshape(1, ho, wo, c)
    assert np.array_equal(got, eval_op(g, op, [x]))
