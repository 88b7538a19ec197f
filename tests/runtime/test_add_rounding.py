"""ADD's input rescales round exactly as TFLite's (MultiplyByQuantizedMultiplier: round half away
from zero), on every pair of int8 inputs.

The random ADD cases cannot pin that rounding down: an input's rescale carries 20 extra bits, so a
one-unit difference there reaches an int8 output only when the sum sits exactly on the output's
rounding boundary (about one element in a million). The parameter sets below were found by search
(scales and zero points drawn at random, all 65,536 input pairs tried) as ones where flooring, or
rounding halves up, at the input rescales changes at least one output; the test re-checks that
against the reference, so each set stays a discriminating case.
"""
from __future__ import annotations

import numpy as np
import pytest

from mcudet.deploy import quant_math as qm
from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.cbuild import Runtime
from mcudet.deploy.ops import Add
from mcudet.deploy.reference import eval_op

from .harness import Harness, OpCase

#: (s1, s2, s_out, zp1, zp2, zp_out): float32 scales; input 1 has the larger scale (multiplier 2^30,
#: shift 0), input 2 a right shift of 1 to 3.
CRAFTED = (
    (0.033593639731407166, 0.01183306984603405, 0.03693684563040733, -10, -15, -5),
    (0.016269203275442123, 0.008325682953000069, 0.05038589611649513, -3, -6, 17),
    (0.0931137427687645, 0.04406121000647545, 0.1529720425605774, -16, -13, 13),
    (0.0027177147567272186, 0.0005390418809838593, 0.002441634889692068, -9, 13, 3),
)


def _every_pair() -> tuple[np.ndarray, np.ndarray]:
    """All 65,536 (a, b) int8 pairs as two (1, 256, 16, 16) maps."""
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing='ij')
    return a.astype(np.int8).reshape(1, 256, 16, 16), b.astype(np.int8).reshape(1, 256, 16, 16)


def _add_with(a: np.ndarray, b: np.ndarray, params: tuple, divide) -> np.ndarray:
    """TFLite's ADD with ``divide(x, exponent)`` in place of the input rescales' rounding division."""
    s1, s2, s_out, zp1, zp2, zp_out = params
    m = qm.add_multipliers(s1, s2, s_out)

    def rescale(x: np.ndarray, zp: int, mult: int, shift: int) -> np.ndarray:
        v = qm.wrap_int32((x.astype(np.int64) - zp) << m.left_shift)
        high = qm.saturating_rounding_doubling_high_mul(qm.wrap_int32(v << max(shift, 0)), mult)
        return divide(high, -shift) if shift < 0 else high

    total = rescale(a, zp1, m.input1_multiplier, m.input1_shift) + rescale(b, zp2, m.input2_multiplier,
                                                                          m.input2_shift)
    return qm.requantize(qm.wrap_int32(total), m.output_multiplier, m.output_shift, zp_out, -128, 127)


def _floor(x: np.ndarray, e: int) -> np.ndarray:
    return np.asarray(x, np.int64) >> e


def _half_up(x: np.ndarray, e: int) -> np.ndarray:
    return (np.asarray(x, np.int64) + (1 << (e - 1))) >> e


def _case(params: tuple) -> OpCase:
    s1, s2, s_out, zp1, zp2, zp_out = params
    a, b = _every_pair()
    g = GraphBuilder('add_rounding')
    x = g.input('a', a.shape, s1, zp1)
    y = g.input('b', b.shape, s2, zp2)
    g.op('add', 'op', [x, y], Add(), float(np.float32(s_out)), zp_out)
    graph = g.build()
    expected = np.asarray(eval_op(graph, graph.ops[0], [a, b]))
    return OpCase(f'add every pair {params}', graph, [a, b], expected)


@pytest.mark.parametrize('params', CRAFTED, ids=[f'set{i}' for i in range(len(CRAFTED))])
def test_crafted_sets_discriminate_the_rounding(params: tuple) -> None:
    """The reference is TFLite's formula, and each set tells it from both wrong roundings."""
    a, b = _every_pair()
    ref = _add_with(a, b, params, qm.rounding_divide_by_pot)
    np.testing.assert_array_equal(ref, _case(params).expected)
    assert (_add_with(a, b, params, _floor) != ref).any()
    assert (_add_with(a, b, params, _half_up) != ref).any()


def test_add_rounds_like_tflite_on_every_input_pair(runtime: Runtime) -> None:
    h = Harness(np.random.default_rng(0))
    for params in CRAFTED:
        h.add_case(_case(params))
    h.verify(runtime)
