"""TFLite int8 fixed-point arithmetic, vectorised in NumPy (``design/int8.md``).

Everything here is the default TFLite / TFLite Micro build (double rounding,
``TFLITE_SINGLE_ROUNDING`` off). Integer arrays are computed in int64 and hold
int32 values; where C wraps an int32 (``x * (1 << left_shift)``) we wrap too, so the
C runtime, this module and TFLite Micro agree bit for bit. Scales are float32 in a
``.tflite`` file; every multiplier is computed from them widened to double.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT8_MIN, INT8_MAX = -128, 127
ADD_LEFT_SHIFT = 20  # TFLite's int8 ADD pre-shift

ArrayLike = Union[int, np.ndarray]


def wrap_int32(x: ArrayLike) -> np.ndarray:
    """Two's-complement wrap of integers to int32 (what C does on overflow), as int64."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def round_half_away(x: ArrayLike) -> np.ndarray:
    """C ``std::round`` / ``TfLiteRound``: ties away from zero (NumPy rounds ties to even)."""
    x = np.asarray(x, dtype=np.float64)  # float32 -> float64 is exact
    whole = np.trunc(x)
    return whole + np.sign(x) * (np.abs(x - whole) >= 0.5)  # x - trunc(x) is exact


# ---------------------------------------------------------------------- multipliers
def quantize_multiplier(real: float) -> tuple[int, int]:
    """``QuantizeMultiplier``: real = q * 2^shift, q_fixed = round(q * 2^31) in [2^30, 2^31).

    Returns (multiplier, shift); shift > 0 is a left shift. Multipliers below about
    2^-32 flush to (0, 0) as in TFLite.
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise ValueError(f'quantize_multiplier: multiplier {real!r} must be finite and >= 0')
    q, shift = math.frexp(real)
    q_fixed = int(round_half_away(q * float(1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` per element; returns int32 (multiplier, shift) arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def conv_multipliers(s_in: float, s_w: ArrayLike, s_out: float, channels: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) of a conv / depthwise / FC: double(s_in) * s_w[c] / s_out.

    A per-tensor weight scale is broadcast to ``channels`` entries (TFLite does the same).
    """
    s_w = np.asarray(s_w, dtype=np.float32).astype(np.float64).ravel()
    if s_w.size == 1:
        s_w = np.full(channels, s_w[0])
    if s_w.size != channels:
        raise ValueError(f'{s_w.size} weight scales for {channels} output channels')
    real = (np.float64(np.float32(s_in)) * s_w) / np.float64(np.float32(s_out))
    return quantize_multipliers(real)


# ---------------------------------------------------------------------- requantization
def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values (int64 arrays out)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b  # |ab| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge
    # C++ integer division truncates toward zero.
    high = np.where(v >= 0, v >> 31, -((-v) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: x / 2^exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    if np.any((exponent < 0) | (exponent > 31)):
        raise ValueError('rounding_divide_by_pot: exponent must be in [0, 31]')
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> np.ndarray:
    """``MultiplyByQuantizedMultiplier`` (double rounding), broadcast over arrays.

    ``x`` holds int32 values; ``multiplier``/``shift`` may be per channel (last axis).
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(x << left)  # C: x * (1 << left_shift) in int32
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def requantize(acc: ArrayLike, multiplier: ArrayLike, shift: ArrayLike, zp_out: int,
               act_min: int, act_max: int) -> np.ndarray:
    """int32 accumulator -> int8: MBQM, add the output zero point, clamp to the activation range."""
    y = multiply_by_quantized_multiplier(acc, multiplier, shift) + int(zp_out)
    return np.clip(y, act_min, act_max).astype(np.int8)


# ---------------------------------------------------------------------- activation ranges
ACTIVATIONS = ('none', 'relu', 'relu6')


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for int8: (act_min, act_max).

    ``zp + round(f / scale)`` is computed in float32 with ties away from zero, as in C.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f'activation {activation!r} is not one of {ACTIVATIONS}')

    def quantize(f: float) -> int:
        return int(zero_point) + int(round_half_away(np.float32(f) / np.float32(scale)))

    if activation == 'relu':
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == 'relu6':
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    return INT8_MIN, INT8_MAX


# ---------------------------------------------------------------------- op-specific parameters
@dataclass(frozen=True)
class AddMultipliers:
    """TFLite int8 ADD parameters: inputs pre-shifted by 2^20, three multipliers."""

    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int


def add_multipliers(s1: float, s2: float, s_out: float) -> AddMultipliers:
    """``CalculateOpDataAdd``: twice_max = 2 max(s1, s2); multipliers s1 / twice_max, s2 / twice_max
    and twice_max / (2^20 s_out)."""
    s1, s2, s_out = (float(np.float32(s)) for s in (s1, s2, s_out))
    twice_max = 2.0 * max(s1, s2)
    m1 = quantize_multiplier(s1 / twice_max)
    m2 = quantize_multiplier(s2 / twice_max)
    mo = quantize_multiplier(twice_max / (float(1 << ADD_LEFT_SHIFT) * s_out))
    return AddMultipliers(ADD_LEFT_SHIFT, *m1, *m2, *mo)


def mul_multiplier(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    """TFLite int8 MUL: double(s1) * double(s2) / double(s_out)."""
    s1, s2, s_out = (float(np.float32(s)) for s in (s1, s2, s_out))
    return quantize_multiplier(s1 * s2 / s_out)


def count_leading_zeros_u64(n: int) -> int:
    return 64 - int(n).bit_length()


def mean_multiplier(s_in: float, s_out: float, n: int) -> tuple[int, int]:
    """MEAN's (multiplier, shift) with the 1/n folded in (TFLite ``QuantizedMeanOrSum``).

    M = s_in / s_out -> (mult, shift); k = min(floor(log2 n), 32, 31 + shift);
    mult' = (mult << k) // n (int64, truncating); shift' = shift - k.
    """
    if n < 1:
        raise ValueError(f'mean over {n} elements')
    mult, shift = quantize_multiplier(float(np.float32(s_in)) / float(np.float32(s_out)))
    k = 63 - count_leading_zeros_u64(n)
    k = min(k, 32, 31 + shift)
    mult = int(np.int32(np.int64((mult << k) // n)))  # static_cast<int32_t> of a non-negative quotient
    return mult, shift - k


# ---------------------------------------------------------------------- boundary conversions
def quantize_float(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite ``AffineQuantize`` float32 -> int8: round(x / scale) in float32, ties away from zero."""
    x = np.asarray(x, dtype=np.float32)
    q = round_half_away(x / np.float32(scale)).astype(np.int64) + int(zero_point)
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite ``Dequantize`` int8 -> float32: float(double(scale) * (q - zp))."""
    diff = np.asarray(q, dtype=np.int64) - int(zero_point)
    return (np.float64(np.float32(scale)) * diff).astype(np.float32)
