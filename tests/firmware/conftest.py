"""Fixtures of the firmware tests: tool checks, one-op and network graphs exported to C, vww.tflite."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.codegen import export, reference_io
from mcudet.deploy.ir import Graph
from mcudet.deploy.ops import Mean
from mcudet.deploy.qemu_plugin import plugin_library

needs_arm_gcc = pytest.mark.skipif(
    shutil.which('arm-none-eabi-gcc') is None,
    reason='arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)')
needs_qemu = pytest.mark.skipif(shutil.which('qemu-system-arm') is None,
                                reason='qemu-system-arm is not installed (apt-get install qemu-system-arm)')


@pytest.fixture(scope='session')
def plugin() -> Path:
    """The instruction-counting QEMU plugin; skips when its header was not fetched (tools/install.sh)."""
    lib, why = plugin_library()
    if lib is None:
        pytest.skip(f'QEMU instruction-counting plugin unavailable: {why}')
    return lib


def conv1x1_graph(hw: int, cin: int, cout: int, seed: int = 0) -> Graph:
    """One 1x1 CONV_2D with ReLU6 (the hot op of inverted-residual blocks)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f'pw{hw}x{cin}x{cout}')
    x = b.input('x', (1, hw, hw, cin), 0.02, 0)
    w = rng.integers(-127, 128, size=(cout, 1, 1, cin)).astype(np.int8)
    bias = rng.integers(-1000, 1000, cout).astype(np.int32)
    y = b.conv2d('pw', x, w, bias, np.full(cout, 0.002, np.float32), 0.05, -128, activation='relu6')
    b.output(y)
    return b.build()


def depthwise_graph(hw: int, c: int, k: int, seed: int = 0) -> Graph:
    """One k x k DEPTHWISE_CONV_2D (stride 1, same padding) with ReLU6."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f'dw{hw}x{c}k{k}')
    x = b.input('x', (1, hw, hw, c), 0.02, 0)
    w = rng.integers(-127, 128, size=(1, k, k, c)).astype(np.int8)
    bias = rng.integers(-1000, 1000, c).astype(np.int32)
    y = b.depthwise_conv2d('dw', x, w, bias, np.full(c, 0.01, np.float32), 0.05, -128, activation='relu6')
    b.output(y)
    return b.build()


def wide_graph(hw: int = 48, cin: int = 4, cout: int = 96, seed: int = 0) -> Graph:
    """A 1x1 expand to a large map, then global mean: a big arena, a tiny output."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder('wide')
    x = b.input('x', (1, hw, hw, cin), 0.02, 0)
    w = rng.integers(-127, 128, size=(cout, 1, 1, cin)).astype(np.int8)
    y = b.conv2d('expand', x, w, rng.integers(-1000, 1000, cout).astype(np.int32),
                 np.full(cout, 0.01, np.float32), 0.05, -10)
    b.output(b.op('mean', 'pool', [y], Mean((1, 2), keep_dims=True), 0.05, -10))
    return b.build()


def int8_inputs(graph: Graph, n: int = 1, seed: int = 1) -> list[list[np.ndarray]]:
    """``n`` random int8 input lists for a graph with one int8 input."""
    rng = np.random.default_rng(seed)
    shape = graph.tensor(graph.inputs[0]).shape
    return [[rng.integers(-128, 128, size=shape).astype(np.int8)] for _ in range(n)]


def exported(graph: Graph, out: Path, inputs: list[list[np.ndarray]], **kw):
    """Export ``graph`` to ``out`` (host build checked bit-exact); the export and (frames, references)."""
    ex = export(graph, out, inputs=inputs, **kw)
    assert ex.report['bitexact_vs_reference'], 'the host build already differs from the reference'
    pairs = [reference_io(ex.graph, ex.plan, ins) for ins in inputs]
    return ex, [f for f, _ in pairs], [r for _, r in pairs]


def assert_bitexact(outputs: list[list[np.ndarray]], refs: list[list[np.ndarray]]) -> None:
    assert len(outputs) == len(refs)
    for i, (got, ref) in enumerate(zip(outputs, refs)):
        for k, (g, r) in enumerate(zip(got, ref)):
            diff = np.flatnonzero(g != r.reshape(-1))
            assert diff.size == 0, (f'frame {i} output {k}: {diff.size} of {g.size} values differ from the '
                                    f'reference (first at {diff[:5].tolist()})')


@pytest.fixture(scope='session')
def vww_graph() -> Graph:
    """vww.tflite with PADs folded (skips when ../shared is absent)."""
    from tests.conftest import shared_dir

    shared = shared_dir()
    path = shared / 'reference' / 'tflite' / 'vww.tflite' if shared else None
    if path is None or not path.is_file():
        pytest.skip('vww.tflite is absent (set MCUDET_SHARED=/path/to/shared)')
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.transforms import fold_pads

    return fold_pads(read_tflite(path))
