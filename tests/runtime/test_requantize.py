"""mcu_requantize (MultiplyByQuantizedMultiplier, double rounding) equals the NumPy reference on
random and adversarial accumulators: rounding ties, INT32_MIN, left shifts that wrap, the
largest and smallest shifts, and the saturating INT32_MIN * INT32_MIN product."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mcudet.deploy import quant_math as qm
from mcudet.deploy.cbuild import Program, Runtime

INT32_MIN, INT32_MAX = qm.INT32_MIN, qm.INT32_MAX


def _run(runtime: Runtime, acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    prog = Program()
    n = acc.size
    bufs = [prog.const(np.asarray(a, '<i4')) for a in (acc, mult, shift)]
    out = prog.buffer(4 * n)
    prog.call('requantize', [*prog.ptr(bufs[0]), *prog.ptr(bufs[1]), *prog.ptr(bufs[2]), n, *prog.ptr(out)])
    res = runtime.run(prog)
    assert res.status.tolist() == [0]
    return res.array(out, '<i4')


def adversarial_cases(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accumulators x multipliers x shifts, with the cases where rounding is decided."""
    specials = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, 1 << 30, INT32_MAX - 1,
                INT32_MAX]
    powers = [s * ((1 << k) + d) for k in range(31) for d in (-1, 0, 1) for s in (-1, 1)]
    shifts = np.arange(-31, 32)
    # Exact ties of the final rounding divide: x = (2j + 1) * 2^(R - 1) with multiplier 2^31 - 1 ~ 1
    # leaves ties after the high multiply for small x; multiplier 2^30 halves exactly.
    ties = [(2 * j + 1) << (r - 1) for r in range(1, 31) for j in (-3, -2, -1, 0, 1, 2)]
    accs = np.array(sorted(set(specials + powers + ties)), dtype=np.int64)
    accs = accs[(accs >= INT32_MIN) & (accs <= INT32_MAX)]
    mults = np.array([0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MIN,
                      *rng.integers(1 << 30, 1 << 31, size=6)], dtype=np.int64)
    a, m, s = np.meshgrid(accs, mults, shifts, indexing='ij')
    return a.ravel(), m.ravel(), s.ravel()


def test_requantize_adversarial(runtime: Runtime) -> None:
    acc, mult, shift = adversarial_cases(np.random.default_rng(0))
    assert acc.size > 100_000
    got = _run(runtime, acc, mult, shift)
    want = qm.multiply_by_quantized_multiplier(acc, mult, shift)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f'{bad.size} of {acc.size} differ, e.g. acc={acc[bad[0]]} mult={mult[bad[0]]} '
                           f'shift={shift[bad[0]]}: C {got[bad[0]]} != NumPy {want[bad[0]]}')


def test_requantize_random(runtime: Runtime) -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    acc = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True),
                          rng.integers(-1 << 20, 1 << 20, n)])  # realistic conv accumulators
    mult = rng.integers(1 << 30, 1 << 31, 2 * n)
    shift = rng.integers(-31, 32, 2 * n)
    want = qm.multiply_by_quantized_multiplier(acc, mult, shift)
    assert np.array_equal(_run(runtime, acc, mult, shift), want)


def test_requantize_s8_block(runtime: Runtime) -> None:
    """The vectorised helper: per-channel multiplier / shift, output offset, activation clamp."""
    rng = np.random.default_rng(2)
    for trial in range(20):
        n = int(rng.integers(1, 300))
        acc = rng.integers(-1 << 22, 1 << 22, n)
        mult = rng.integers(1 << 30, 1 << 31, n)
        shift = rng.integers(-20, 2, n)
        off = int(rng.integers(-128, 128))
        lo = int(rng.integers(-128, 0))
        hi = int(rng.integers(lo, 128))
        prog = Program()
        bufs = [prog.const(np.asarray(a, '<i4')) for a in (acc, mult, shift)]
        out = prog.buffer(n)
        ptrs = [a for b in bufs for a in prog.ptr(b)]
        prog.call('requantize_s8', [*ptrs, n, off, lo, hi, *prog.ptr(out)])
        got = runtime.run(prog).array(out)
        assert np.array_equal(got, qm.requantize(acc, mult, shift, off, lo, hi)), f'trial {trial}'


int32s = st.one_of(st.integers(INT32_MIN, INT32_MAX),
                   st.builds(lambda k, s, d: max(INT32_MIN, min(INT32_MAX, s * ((1 << k) + d))),
                             st.integers(0, 31), st.sampled_from([-1, 1]), st.integers(-2, 2)))


@settings(max_examples=30, deadline=None)
@given(data=st.lists(st.tuples(int32s, st.one_of(st.integers(0, INT32_MAX), st.just(INT32_MIN)),
                               st.integers(-31, 31)), min_size=1, max_size=64))
def test_requantize_property(runtimes, data) -> None:
    acc, mult, shift = (np.array(c, dtype=np.int64) for c in zip(*data))
    want = qm.multiply_by_quantized_multiplier(acc, mult, shift)
    assert np.array_equal(_run(runtimes['dsp-asan'], acc, mult, shift), want)
