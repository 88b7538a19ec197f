"""Every op of the IR: the NumPy reference executor equals TFLite Micro bit for bit.

Each case is a one-op graph with random shapes and quantization (mcudet.deploy.synthetic),
written as .tflite by our writer and run in TFLite Micro. A third of the conv / depthwise /
FC cases use small values and multipliers in [1/16, 1], where double and single rounding
differ, so the rounding mode is pinned too.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from mcudet.deploy.reference import run
from mcudet.deploy.synthetic import OP_CASE_KINDS, random_op_graph

from .conftest import needs_tflm

FAST_CASES = 100
SLOW_CASES = 1000


def _check_kind(kind: str, seeds: range) -> None:
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.tflm import run_tflm

    for seed in seeds:
        graph, inputs = random_op_graph(kind, np.random.default_rng([zlib.crc32(kind.encode()), seed]))
        ours = run(graph, inputs)
        theirs = run_tflm(write_tflite(graph), inputs)
        assert len(ours) == len(theirs) == 1
        a, b = ours[0], theirs[0]
        same = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
        if not same:
            diff = '' if a.shape != b.shape else f', {np.count_nonzero(a != b)} of {a.size} elements differ'
            pytest.fail(f'{kind} seed {seed}: reference {a.dtype}{a.shape} != TFLite Micro '
                        f'{b.dtype}{b.shape}{diff}\n{graph.summary()}\n{graph.ops[0].attrs}')


@needs_tflm
@pytest.mark.parametrize('kind', OP_CASE_KINDS)
def test_op_matches_tflite_micro(kind: str) -> None:
    _check_kind(kind, range(FAST_CASES))


@needs_tflm
@pytest.mark.slow
@pytest.mark.parametrize('kind', OP_CASE_KINDS)
def test_op_matches_tflite_micro_many_cases(kind: str) -> None:
    _check_kind(kind, range(FAST_CASES, FAST_CASES + SLOW_CASES))
