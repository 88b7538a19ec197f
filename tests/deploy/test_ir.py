"""The IR itself: padding geometry, validation errors that name the op, parameters computed once."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcudet.deploy import Graph, GraphError, Op, Padding, Tensor
from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.ops import Add, Conv2D, Pool2D, out_size, tflite_padding
from mcudet.deploy.params import ConvParams

REPO = Path(__file__).resolve().parents[2]


def test_padding_geometry() -> None:
    assert Padding.symmetric((3, 3)) == Padding(1, 1, 1, 1)
    assert Padding.symmetric((3, 3), (2, 2)) == Padding(2, 2, 2, 2)
    # TFLite SAME puts the odd pad at the bottom / right.
    assert Padding.same((80, 80), (3, 3), (2, 2)) == Padding(0, 1, 0, 1)
    assert Padding.same((5, 5), (5, 5), (2, 2)) == Padding(2, 2, 2, 2)
    assert out_size(80, 3, 2, 1, 1, 1) == 40


@pytest.mark.parametrize('n, k, s, padding, expected', [
    (80, 3, 2, Padding(1, 1, 1, 1), None),  # PyTorch k // 2 on an even map: TFLite needs a PAD
    (81, 3, 2, Padding(1, 1, 1, 1), 'SAME'),
    (40, 3, 1, Padding(1, 1, 1, 1), 'SAME'),
    (40, 1, 1, Padding(), 'VALID'),  # 1x1: both fit, VALID first
    (10, 3, 1, Padding(), 'VALID'),
    (80, 3, 2, Padding(0, 1, 0, 1), 'SAME'),
    (80, 3, 2, Padding(0, 0, 0, 0), 'VALID'),
    (9, 4, 1, Padding(1, 2, 1, 2), 'SAME'),  # even kernel: SAME pads (1, 2)
    (9, 4, 1, Padding(2, 1, 2, 1), None),  # the mirror image is not SAME
])
def test_tflite_padding_flag(n: int, k: int, s: int, padding: Padding, expected) -> None:
    out = out_size(n, k, s, 1, padding.top, padding.bottom)
    assert tflite_padding((n, n), (out, out), (k, k), (s, s), (1, 1), padding) == expected


def _conv_graph(out_shape=(1, 4, 4, 2), w_scale=None, bias_shape=(2,)) -> Graph:
    g = Graph('g')
    g.add_tensor(Tensor('x', (1, 4, 4, 3), 'int8', 0.1, 0))
    g.add_tensor(Tensor('w', (2, 3, 3, 3), 'int8', w_scale if w_scale is not None else [0.01, 0.02], 0,
                        data=np.ones((2, 3, 3, 3), np.int8)))
    g.add_tensor(Tensor('b', bias_shape, 'int32', data=np.zeros(bias_shape, np.int32)))
    g.add_tensor(Tensor('y', out_shape, 'int8', 0.2, -3))
    g.add_op(Op('conv2d', 'conv', ('x', 'w', 'b'), ('y',), Conv2D((3, 3), padding=Padding(1, 1, 1, 1))))
    g.inputs, g.outputs = ['x'], ['y']
    return g


def test_finalize_computes_per_channel_parameters_once() -> None:
    g = _conv_graph().finalize()
    p = g.ops[0].params
    assert isinstance(p, ConvParams)
    assert p.multiplier.dtype == np.int32 and p.multiplier.shape == (2,)
    assert p.input_offset == 0 and p.output_offset == -3 and (p.act_min, p.act_max) == (-128, 127)
    # 0.1 * 0.01 / 0.2 = 0.005 = 0.64 * 2^-7 and 0.01 = 0.64 * 2^-6
    assert list(p.shift) == [-7, -6]
    assert np.all(np.abs(p.multiplier - 0.64 * 2 ** 31) < 2 ** 8)  # float32 scales, widened


@pytest.mark.parametrize('mutate, message', [
    (lambda g: setattr(g.tensors['y'], 'shape', (1, 2, 2, 2)), r"op 'conv' \(conv2d\): output 'y' has shape"),
    (lambda g: setattr(g.tensors['w'], 'scale', np.array([0.1, 0.2, 0.3], np.float32)), "3 scales"),
    (lambda g: setattr(g.tensors['w'], 'zero_point', 4), 'zero point 4'),
    (lambda g: g.tensors.__setitem__('b', Tensor('b', (3,), 'int32', data=np.zeros(3, np.int32))),
     r"bias 'b' must be a constant int32 \[2\]"),
    (lambda g: setattr(g.tensors['x'], 'scale', None), "int8 tensor 'x' has no scale"),
    (lambda g: setattr(g.ops[0], 'kind', 'conv3d'), 'unknown kind'),
    (lambda g: setattr(g.ops[0], 'inputs', ('z', 'w', 'b')), "input 'z' does not exist"),
    (lambda g: setattr(g.ops[0], 'attrs', Add()), 'attrs must be Conv2D'),
    (lambda g: g.outputs.append('nowhere'), "graph output 'nowhere'"),
    (lambda g: g.add_op(Op('conv2d', 'conv', ('x', 'w', 'b'), ('y',), g.ops[0].attrs)), 'more than once'),
])
def test_validation_names_the_problem(mutate, message: str) -> None:
    g = _conv_graph()
    mutate(g)
    with pytest.raises(GraphError, match=message):
        g.finalize()


def test_topological_order_and_same_quantization_are_checked() -> None:
    b = GraphBuilder()
    x = b.input('x', (1, 4, 4, 2), 0.1, 0)
    b.op('max_pool2d', 'pool', [x], Pool2D((2, 2), (2, 2)), 0.2, 0)  # pooling cannot rescale
    with pytest.raises(GraphError, match=r"op 'pool' \(max_pool2d\).*must share quantization"):
        b.build()
    g = Graph('order')
    g.add_tensor(Tensor('x', (1, 2, 2, 1), 'int8', 0.1, 0))
    g.add_tensor(Tensor('a', (1, 2, 2, 1), 'int8', 0.1, 0))
    g.add_tensor(Tensor('c', (1, 2, 2, 1), 'int8', 0.1, 0))
    g.add_op(Op('add', 'second', ('x', 'a'), ('c',), Add()))
    g.add_op(Op('add', 'first', ('x', 'x'), ('a',), Add()))
    g.inputs, g.outputs = ['x'], ['c']
    with pytest.raises(GraphError, match="'second'.*used before it is produced"):
        g.finalize()


def test_float_only_at_the_boundary() -> None:
    b = GraphBuilder()
    x = b.input('x', (1, 2, 2, 1), dtype='float32')
    b.op('add', 'add', [x, x], Add(), 0.1, 0)
    with pytest.raises(GraphError, match='activations are int8'):
        b.build()


def test_deploy_imports_no_training_stack_and_no_tflite() -> None:
    heavy = ('torch', 'mmengine', 'mmdet', 'mmcv', 'tflite_micro', 'flatbuffers')
    modules = ['mcudet.deploy'] + [f'mcudet.deploy.{m}' for m in (
        'quant_math', 'reference', 'patch_exec', 'synthetic', 'builder', 'tflite_writer', 'tflite_reader',
        'tflm')]
    code = (f'import sys, {", ".join(modules)}; '
            f'bad = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r}); assert not bad, bad')
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f'importing mcudet.deploy pulled in heavy modules:\n{result.stderr}'
