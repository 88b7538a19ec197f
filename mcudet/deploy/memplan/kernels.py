"""What the memory planner assumes of the C kernels: in-place rules and scratch sizes.

This is the contract between the planner and the C runtime (``deploy/runtime``, mcu_rt
version 1). A runtime that differs passes its own ``scratch_fn`` and ``inplace`` rules to
:func:`~mcudet.deploy.memplan.plan_memory`.

In-place rules (the output overwrites the input, which dies at the op):

``'depthwise'`` (``mcu_depthwise_conv2d_inplace_s8``)
    DEPTHWISE_CONV_2D, depth multiplier 1, ``out_h <= in_h`` and ``out_w <= in_w``. The
    output is dense at the start of the input's buffer (delta 0); per patch the input may be
    any crop of its tile buffer (the window the op reads). Output pixel ``i`` (raster order)
    sits at or before every input pixel it could still need, and a channel's outputs land
    only on that channel's bytes (offsets and row pitches are multiples of C), so the kernel
    goes slice by slice of ``INPLACE_DW_CHANNELS`` channels, rows top to bottom, output row
    ``y`` ending before input row ``y + 1``; a ring of the slice's last
    ``min(pad_top + 1, out_h)`` input rows in the scratch serves the rows above
    (``min(pad_top + 1, out_h) * in_w * min(C, 16)`` bytes; ``pad_top`` is the call's own: the
    op's for a whole map, the tile's per patch).
``'reshape'``
    RESHAPE has no kernel (mcu_rt aliases the buffers): the output is the input's memory.
``'pointwise'`` (``mcu_conv2d_1x1_s8``; both of its paths widen the pixel into the scratch first)
    CONV_2D 1x1, stride 1, no padding, ``c_out <= c_in``: the output starts at the input's
    address. Pixels go in raster order and each input pixel is read whole (widened into the
    scratch) before that pixel's outputs are written, so output pixel ``i`` overwrites only
    input pixels ``<= i``.
``'expand'`` (the same kernel)
    The same with ``c_out > c_in``: the output starts ``delta = (c_out - c_in) * (N - 1)``
    bytes (rounded up to the alignment) before the input, ``N`` pixels, so the input is the
    tail of the output: footprint ``max(in, out)`` instead of ``in + out``.
``'elementwise'`` (``mcu_add_s8``, ``mcu_mul_s8``, ``mcu_requantize_map_s8``)
    ADD, MUL (the full-size operand), int8 -> int8 QUANTIZE: element ``i`` is read before it
    is written, so the output takes the input's address.

Only dense inputs that are the whole buffer run in place, except under 'depthwise' (a crop).

Scratch (``scratch_fn(call) -> bytes``, :func:`default_scratch_bytes`) follows mcu_rt's size
queries. The planner asks for every call the generated code will make (every tile of a
per-patch op) and keeps the largest.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional

from ..ir import Op

ALIGN = 4
#: Channels per slice of the in-place depthwise kernel (its ring holds this many channels).
INPLACE_DW_CHANNELS = 16
INPLACE_RULES = ('depthwise', 'reshape', 'pointwise', 'expand', 'elementwise')
#: What deploy/runtime runs in place (mcu_rt.h, tests/runtime/test_kernels.py): every rule.
RUNTIME_INPLACE = INPLACE_RULES
#: The paper's analytic convention (``design/figures.md``): depthwise in place, the projection
#: conv sharing its input's buffer (there: accumulated into the residual); expansions are not.
PAPER_INPLACE = ('depthwise', 'reshape', 'pointwise', 'elementwise')

Pads = tuple[int, int, int, int]


def align(n: int, alignment: int = ALIGN) -> int:
    """``n`` rounded up to a multiple of ``alignment``."""
    return -(-int(n) // alignment) * alignment


@dataclass(frozen=True)
class KernelCall:
    """One call of a kernel, as the generated code will make it.

    Args:
        op: The graph op.
        in_shape: NHWC shape of the main (first) input the call reads: the whole map, or
            a tile's input window in the per-patch stage.
        out_shape: Shape of the output the call writes (a tile's output window per patch).
        pads: Taps (top, bottom, left, right) outside the map that the call skips.
        in_place: The in-place rule the call runs under (see the module docstring), or None.
    """

    op: Op
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    pads: Pads = (0, 0, 0, 0)
    in_place: Optional[str] = None


ScratchFn = Callable[[KernelCall], int]


def default_scratch_bytes(call: KernelCall) -> int:
    """Scratch bytes of one kernel call: mcu_rt's ``*_scratch_size`` queries (version 1).

    * CONV_2D: with ``k4 = round4(kh * kw * c_in)``, ``12 * k4`` when ``k4 <= 64`` (four int16
      im2col columns and their byte stages), else ``2 * k4`` (one column); a 1x1 kernel without
      pads (``mcu_conv2d_1x1_s8``) ``8 * round4(c_in)`` (four pixels widened to int16).
    * DEPTHWISE_CONV_2D: none; in place ``min(pad_top + 1, out_h) * in_w * min(C, 16)`` (the row
      ring of one channel slice).
    * FULLY_CONNECTED: ``2 * round4(k)`` (one input row widened to int16).
    * Everything else: 0.
    """
    op = call.op
    if op.kind == 'conv2d':
        return conv_scratch(op.attrs.kernel, call.in_shape[3], call.pads)
    if op.kind == 'depthwise_conv2d':
        if call.in_place == 'depthwise':
            _, _, in_w, c = call.in_shape
            return inplace_depthwise_scratch(call.pads[0], call.out_shape[1], in_w, c)
        return 0
    if op.kind == 'fully_connected':
        return fully_connected_scratch(call.in_shape[-1])
    return 0


# mcu_rt's size queries, shared by the planner, the code generator and the host harness (cbuild).
def conv_scratch(kernel: Sequence[int], in_c: int, pads: Sequence[int]) -> int:
    """``mcu_conv2d_s8_scratch_size``: a 1x1 kernel without pads is ``mcu_conv2d_1x1_s8``'s
    ``8 * round4(c_in)`` (four pixels widened to int16); any other one with ``k4 = round4(kh * kw *
    c_in)`` four int16 im2col columns and their four byte stages, ``12 * k4``, when ``k4 <= 64``,
    else one column, ``2 * k4``."""
    kh, kw = kernel
    if (kh, kw) == (1, 1) and not any(pads):
        return 8 * align(in_c, 4)
    k4 = align(kh * kw * in_c, 4)
    return 12 * k4 if k4 <= 64 else 2 * k4


def fully_connected_scratch(k: int) -> int:
    """``mcu_fully_connected_s8_scratch_size``: one input row widened to int16."""
    return 2 * align(k, 4)


def inplace_depthwise_scratch(pad_top: int, out_h: int, in_w: int, channels: int) -> int:
    """``mcu_depthwise_conv2d_inplace_s8_scratch_size``: the ring of one channel slice's rows."""
    return min(pad_top + 1, out_h) * in_w * min(channels, INPLACE_DW_CHANNELS)


def inplace_rule(op: Op, which: int, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 in_dtype: str, rules: tuple[str, ...]) -> Optional[tuple[str, int]]:
    """``(rule, delta)`` when ``op``'s output may overwrite its input number ``which``.

    ``in_shape`` / ``out_shape`` are the buffers of this call (a tile's windows per patch).
    ``delta`` is how many bytes before the input the output starts (unaligned). None when
    no enabled rule applies.
    """
    k = op.kind
    if k == 'depthwise_conv2d' and which == 0 and 'depthwise' in rules:
        if (op.attrs.depth_multiplier == 1 and out_shape[1] <= in_shape[1]
                and out_shape[2] <= in_shape[2]):
            return 'depthwise', 0
        return None
    if k == 'reshape' and which == 0:
        return ('reshape', 0) if 'reshape' in rules else None
    if k == 'conv2d' and which == 0:
        a = op.attrs
        if a.kernel != (1, 1) or a.stride != (1, 1) or a.padding.as_tuple() != (0, 0, 0, 0):
            return None
        ci, co = in_shape[3], out_shape[3]
        if co <= ci:
            return ('pointwise', 0) if 'pointwise' in rules else None
        pixels = in_shape[1] * in_shape[2]
        return ('expand', (co - ci) * (pixels - 1)) if 'expand' in rules else None
    if 'elementwise' not in rules or in_dtype != 'int8':
        return None
    if k == 'add' and tuple(in_shape) == tuple(out_shape):
        return 'elementwise', 0
    if k in ('mul', 'quantize') and which == 0 and tuple(in_shape) == tuple(out_shape):
        return 'elementwise', 0
    return None


__all__ = ['ALIGN', 'INPLACE_DW_CHANNELS', 'INPLACE_RULES', 'PAPER_INPLACE', 'RUNTIME_INPLACE', 'KernelCall',
           'ScratchFn', 'align', 'conv_scratch', 'default_scratch_bytes', 'fully_connected_scratch',
           'inplace_depthwise_scratch', 'inplace_rule']
