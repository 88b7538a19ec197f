"""quant_math against a slow, obviously correct big-integer transcription of the TFLite reference.

Python integers do not overflow, so each helper below is the gemmlowp / TFLite C code
read literally; the vectorised int64 NumPy versions must agree on random and on
adversarial values (ties, INT32_MIN, the largest and smallest shifts).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcudet.deploy import quant_math as qm

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


# ---------------------------------------------------------------------- the reference, literally
def py_wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def py_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    v = ab + nudge
    q = abs(v) // (1 << 31)  # C++ division truncates toward zero
    return q if v >= 0 else -q


def py_rdbpot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def py_mbqm(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return py_rdbpot(py_srdhm(py_wrap32(x * (1 << left)), m), right)


def py_quantize_multiplier(real: float) -> tuple[int, int]:
    f = Fraction(real)  # the exact double
    if f == 0:
        return 0, 0
    shift = 0
    while f >= 1:
        f, shift = f / 2, shift + 1
    while f < Fraction(1, 2):
        f, shift = f * 2, shift - 1
    q = math.floor(f * (1 << 31) + Fraction(1, 2))  # positive: half up == half away from zero
    if q == 1 << 31:
        q, shift = q // 2, shift + 1
    if shift < -31:
        return 0, 0
    return q, shift


# ---------------------------------------------------------------------- strategies
def _near_powers() -> st.SearchStrategy[int]:
    return st.builds(lambda k, sign, d: max(INT32_MIN, min(INT32_MAX, sign * ((1 << k) + d))),
                     st.integers(0, 31), st.sampled_from([-1, 1]), st.integers(-2, 2))


int32s = st.one_of(st.integers(INT32_MIN, INT32_MAX), _near_powers(),
                   st.sampled_from([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX]))
multipliers = st.one_of(st.integers(1 << 30, INT32_MAX), st.sampled_from([0, 1, 1 << 30, INT32_MAX]))
shifts = st.integers(-31, 30)


# ---------------------------------------------------------------------- tests
@settings(max_examples=400, deadline=None)
@given(a=int32s, b=st.one_of(int32s, st.just(INT32_MIN)))
def test_srdhm_matches_reference(a: int, b: int) -> None:
    assert int(qm.saturating_rounding_doubling_high_mul(a, b)) == py_srdhm(a, b)


@settings(max_examples=400, deadline=None)
@given(x=int32s, e=st.integers(0, 31))
def test_rounding_divide_by_pot_matches_reference(x: int, e: int) -> None:
    assert int(qm.rounding_divide_by_pot(x, e)) == py_rdbpot(x, e)


@pytest.mark.parametrize('e', [1, 2, 5, 17, 31])
def test_rounding_divide_by_pot_ties_go_away_from_zero(e: int) -> None:
    j = np.arange(-50, 50, dtype=np.int64)
    ties = (2 * j + 1) << (e - 1)  # exactly half-way between two multiples of 2^e
    got = qm.rounding_divide_by_pot(ties, e)
    assert list(got) == [py_rdbpot(int(t), e) for t in ties]
    assert np.all(np.where(ties > 0, got == j + 1, got == j))


@settings(max_examples=600, deadline=None)
@given(x=int32s, m=multipliers, shift=shifts)
def test_mbqm_matches_reference(x: int, m: int, shift: int) -> None:
    assert int(qm.multiply_by_quantized_multiplier(x, m, shift)) == py_mbqm(x, m, shift)


@settings(max_examples=300, deadline=None)
@given(x=st.integers(INT32_MIN + 1, INT32_MAX), m=st.integers(1 << 30, INT32_MAX), shift=st.integers(-31, 0))
def test_mbqm_is_within_one_of_the_exact_product(x: int, m: int, shift: int) -> None:
    exact = Fraction(x * m, 1 << 31) * Fraction(2) ** shift
    assert abs(int(qm.multiply_by_quantized_multiplier(x, m, shift)) - exact) <= 1


def test_mbqm_tie_cases_and_saturation() -> None:
    # x * 2^30 / 2^31 = x / 2: every odd x is a tie of the high multiply (toward +inf).
    xs = np.arange(-9, 10, dtype=np.int64)
    expected = [py_srdhm(int(x), 1 << 30) for x in xs]
    assert list(qm.saturating_rounding_doubling_high_mul(xs, 1 << 30)) == expected
    assert int(qm.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN)) == INT32_MAX
    # A left shift that overflows int32 wraps, as the C expression x * (1 << left_shift) does.
    assert int(qm.multiply_by_quantized_multiplier(1 << 30, 1 << 30, 2)) == py_mbqm(1 << 30, 1 << 30, 2)


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(int32s, min_size=1, max_size=40), data=st.data())
def test_mbqm_vectorised_per_channel(xs: list[int], data: st.DataObject) -> None:
    n = len(xs)
    ms = data.draw(st.lists(multipliers, min_size=n, max_size=n))
    ss = data.draw(st.lists(shifts, min_size=n, max_size=n))
    got = qm.multiply_by_quantized_multiplier(np.array(xs), np.array(ms), np.array(ss))
    assert list(got) == [py_mbqm(x, m, s) for x, m, s in zip(xs, ms, ss)]


reals = st.one_of(st.floats(1e-12, 1e3, allow_nan=False), st.floats(0, 1e-9),
                  st.builds(lambda k: math.ldexp(1.0, k), st.integers(-40, 20)),
                  st.builds(lambda k: math.ldexp(1.0 - 2.0 ** -33, k), st.integers(-40, 20)))


@settings(max_examples=500, deadline=None)
@given(real=reals)
def test_quantize_multiplier_matches_reference(real: float) -> None:
    assert qm.quantize_multiplier(real) == py_quantize_multiplier(real)


def test_quantize_multiplier_edge_cases() -> None:
    assert qm.quantize_multiplier(0.0) == (0, 0)
    assert qm.quantize_multiplier(0.5) == (1 << 30, 0)
    assert qm.quantize_multiplier(1.0) == (1 << 30, 1)
    # q rounds up to 2^31: halve it and bump the shift.
    assert qm.quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)
    # Shifts below -31 flush to zero.
    assert qm.quantize_multiplier(2.0 ** -33) == (0, 0)
    assert qm.quantize_multiplier(2.0 ** -32) == (1 << 30, -31)
    with pytest.raises(ValueError, match='finite'):
        qm.quantize_multiplier(float('nan'))


@settings(max_examples=300, deadline=None)
@given(s_in=st.floats(1e-4, 1.0), s_out=st.floats(1e-4, 1.0), n=st.integers(1, 1 << 20))
def test_mean_multiplier_matches_reference(s_in: float, s_out: float, n: int) -> None:
    mult, shift = py_quantize_multiplier(float(np.float32(s_in)) / float(np.float32(s_out)))
    k = min(n.bit_length() - 1, 32, 31 + shift)
    expected = ((mult << k) // n, shift - k)
    assert qm.mean_multiplier(s_in, s_out, n) == expected


def test_add_multipliers_follow_the_left_shift_20_rule() -> None:
    m = qm.add_multipliers(0.02, 0.05, 0.06)
    twice_max = 2 * float(np.float32(0.05))
    assert m.left_shift == 20
    expected1 = py_quantize_multiplier(float(np.float32(0.02)) / twice_max)
    assert (m.input1_multiplier, m.input1_shift) == expected1
    assert (m.input2_multiplier, m.input2_shift) == (1 << 30, 0)  # exactly 1/2 = 2^30 / 2^31
    assert (m.output_multiplier, m.output_shift) == py_quantize_multiplier(
        twice_max / ((1 << 20) * float(np.float32(0.06))))


def test_round_half_away_from_zero() -> None:
    values = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997, -0.49999997, 2.0], dtype=np.float32)
    assert list(qm.round_half_away(values)) == [1, 2, 3, -1, -3, 0, 0, 2]


def test_activation_ranges() -> None:
    assert qm.activation_range('none', 0.1, 5) == (-128, 127)
    assert qm.activation_range('relu', 0.1, -128) == (-128, 127)
    assert qm.activation_range('relu', 0.1, 10) == (10, 127)
    assert qm.activation_range('relu6', 6 / 255, -128) == (-128, 127)
    assert qm.activation_range('relu6', 4.0, 0) == (0, 2)  # 6 / 4 = 1.5 rounds away from zero
    assert qm.activation_range('relu6', 0.01, -128) == (-128, 127)
    assert qm.activation_range('relu6', 0.1, -128) == (-128, -68)
    with pytest.raises(ValueError, match='activation'):
        qm.activation_range('gelu', 0.1, 0)


def test_quantize_float_rounds_ties_away_and_clamps() -> None:
    x = np.array([1.25, -1.25, 0.75, 100.0, -100.0], dtype=np.float32)  # / 0.5 -> 2.5, -2.5, 1.5
    assert list(qm.quantize_float(x, 0.5, 0)) == [3, -3, 2, 127, -128]
    assert list(qm.dequantize(np.array([-128, 0, 127], dtype=np.int8), 0.5, -1)) == [-63.5, 0.5, 64.0]
