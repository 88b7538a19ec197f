"""Fake-quant layers: batch-norm folding (eval, training, frozen), the SE gate, the input, integer kernels."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from mcudet.deploy import quant_math as qm
from mcudet.models.backbones.layers import ConvBNAct, SqueezeExcite
from mcudet.quantization import InputQuant, QConvBNAct, freeze_bn, prepare_model
from mcudet.quantization import integer as I
from mcudet.quantization.convert import QSqueezeExcite
from mcudet.quantization.fake_quant import qparams_of, quantized_input

from .conftest import randomize_bn


def conv_bn(groups: int = 1, act: str = 'relu6', seed: int = 0) -> ConvBNAct:
    torch.manual_seed(seed)
    c = 8
    m = ConvBNAct(c, c if groups > 1 else 12, 3, 1, groups=c if groups > 1 else 1, act=act)
    return randomize_bn(m, seed)


@pytest.mark.parametrize('groups,act', [(1, 'relu6'), (8, 'relu'), (1, None)])
def test_bn_folding_in_eval_equals_the_float_layer(groups, act):
    float_m = conv_bn(groups, act).eval()
    q = QConvBNAct(float_m.conv, float_m.bn, getattr(float_m, 'act', None)).eval()
    x = torch.randn(2, 8, 9, 9)
    ref = ConvBNAct.forward(float_m, x.clone())
    assert torch.allclose(q(x), ref, atol=1e-5)
    w, b = q.folded()
    y = nn.functional.conv2d(x, w, b, padding=1, groups=float_m.conv.groups)
    y = {'relu6': nn.functional.relu6, 'relu': nn.functional.relu}.get(act, lambda t: t)(y)
    assert torch.allclose(y, ref, atol=1e-5)


def test_training_uses_batch_statistics_until_bn_is_frozen():
    ref = conv_bn().train()
    q = QConvBNAct(*(copy.deepcopy(m) for m in (ref.conv, ref.bn, ref.act))).train()
    x = torch.randn(4, 8, 7, 7) * 2 + 1
    assert torch.allclose(q(x), ref(x.clone()), atol=1e-4)  # batch statistics, as the float layer
    assert torch.allclose(q.bn_layer.running_mean, ref.bn.running_mean, atol=1e-6)
    freeze_bn(q)
    before = q.bn_layer.running_mean.clone()
    y = q(x)
    assert torch.equal(q.bn_layer.running_mean, before)  # frozen: statistics no longer move
    assert torch.allclose(y, q.eval()(x), atol=1e-6)  # and the layer computes the folded (deployed) function


def test_training_with_fake_quant_trains_weights_and_bn():
    q = QConvBNAct(*conv_bn().children()).train()
    q.out_quant.enabled.fill_(True)
    x = torch.randn(4, 8, 7, 7)
    y = q(x)
    assert qparams_of(y) is not None
    y.square().mean().backward()
    assert q.conv_layer.weight.grad.abs().sum() > 0 and q.bn_layer.weight.grad.abs().sum() > 0


def test_squeeze_excite_gate_is_the_hard_sigmoid():
    torch.manual_seed(0)
    se = SqueezeExcite(16, 8).eval()
    qse = QSqueezeExcite(copy.deepcopy(se), 'minmax', 'se').eval()
    x = torch.randn(2, 16, 5, 5) * 3
    assert torch.allclose(qse(x), se(x), atol=1e-5)  # fake quantization off: the float block
    gate = qse.expand
    assert gate.gate and gate.out_quant.qparams() == (pytest.approx(1 / 255), -128)
    assert gate.out_quant.observer is None


def test_input_quant_feeds_pixels_minus_128():
    iq = InputQuant(127.5, 127.5)
    assert iq.qparams() == (pytest.approx(1 / 127.5), 0)
    p = torch.arange(256, dtype=torch.float32).reshape(1, 1, 16, 16)
    x = (p - 127.5) / 127.5
    assert torch.equal(iq.int8(x), (p - 128).long())  # every pixel maps to one int8 value
    y = iq(x)
    assert torch.allclose(y, (p - 128) / 127.5)
    assert InputQuant(0.0, 1.0).qparams() == (1.0, -128)  # no normalisation: real = q + 128 = pixel


def test_input_quant_from_the_data_preprocessor():
    from mmdet.models.data_preprocessors import DetDataPreprocessor

    pre = DetDataPreprocessor(mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True)
    assert InputQuant.from_preprocessor(pre).channel_order == 'RGB'
    pre = DetDataPreprocessor(mean=[0.0] * 3, std=[1.0] * 3, bgr_to_rgb=False)
    assert InputQuant.from_preprocessor(pre).channel_order == 'BGR'
    pre = DetDataPreprocessor(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    with pytest.raises(NotImplementedError, match='differ per channel'):
        InputQuant.from_preprocessor(pre)


def test_prepared_detector_quantizes_its_inputs_in_the_preprocessor():
    from .conftest import DET_CONFIG, build

    model = prepare_model(build(DET_CONFIG))
    out = model.data_preprocessor({'inputs': [torch.full((3, 64, 64), 200.0)], 'data_samples': None}, False)
    x = out['inputs']
    assert torch.allclose(x, torch.full_like(x, 72 / 127.5)) and qparams_of(x) is not None


def test_float_checkpoint_loads_strictly_into_the_prepared_model():
    from .conftest import DET_CONFIG, build

    float_model = build(DET_CONFIG, seed=1)
    state = copy.deepcopy(float_model.state_dict())
    model = prepare_model(build(DET_CONFIG, seed=2))
    model.load_state_dict(state, strict=True)  # bare convs (YOLO predictions) keep their keys
    pred = model.bbox_head.convs_pred[0].conv_layer
    assert torch.equal(pred.weight, state['bbox_head.convs_pred.0.weight'])
    reload = prepare_model(build(DET_CONFIG, seed=3))
    reload.load_state_dict(model.state_dict(), strict=True)


# ---------------------------------------------------------------------- integer kernels
def test_integer_requantization_matches_quant_math_on_adversarial_values():
    rng = np.random.default_rng(0)
    edges = [-2 ** 31, 2 ** 31 - 1, 0, 1, -1, 2 ** 20, -2 ** 20]
    acc = np.concatenate([rng.integers(-2 ** 31, 2 ** 31, 3000), edges])
    for real in [1e-9, 3.1e-5, 0.0158, 0.5, 0.99999, 1.0, 1.7, 37.0]:
        m, s = qm.quantize_multiplier(real)
        want = qm.multiply_by_quantized_multiplier(acc, m, s)
        got = I.multiply_by_quantized_multiplier(torch.as_tensor(acc), torch.tensor(m), torch.tensor(s))
        assert np.array_equal(got.numpy(), want), real
    ties = torch.tensor([8682, 2618, -2618, 4, -4, 12, -12])
    m, s = 1088286533, -5
    assert np.array_equal(I.multiply_by_quantized_multiplier(ties, torch.tensor(m), torch.tensor(s)).numpy(),
                          qm.multiply_by_quantized_multiplier(ties.numpy(), m, s))


def test_integer_add_mul_mean_match_the_reference_kernels():
    from mcudet.deploy.synthetic import random_op_graph

    rng = np.random.default_rng(1)
    for kind in ('add', 'mul', 'mean') * 20:
        graph, inputs = random_op_graph(kind, rng)
        op = graph.ops[0]
        want = __import__('mcudet.deploy.reference', fromlist=['run']).run(graph, inputs)[0]
        ts = [graph.tensor(t) for t in op.inputs]
        qs = [torch.as_tensor(x.astype(np.int64)) for x in inputs]
        out = graph.tensor(op.outputs[0])
        if kind == 'mean':
            if op.attrs.axes not in ((1, 2), (2, 1)):
                continue
            got = I.mean(qs[0], (1, 2), op.attrs.keep_dims, ts[0].zero_point, ts[0].scale, out.scale,
                         out.zero_point)
        else:
            if op.attrs.activation != 'none':
                continue
            fn = I.add if kind == 'add' else I.mul
            got = fn(qs[0], ts[0].zero_point, ts[0].scale, qs[1], ts[1].zero_point, ts[1].scale, out.scale,
                     out.zero_point)
        assert np.array_equal(got.numpy(), want.astype(np.int64)), kind


def test_quantized_input_of_an_uncalibrated_layer_in_eval_is_refused():
    q = QConvBNAct(*conv_bn().children()).eval()
    q.out_quant.enabled.fill_(True)
    q.out_quant.observer.update(torch.tensor([0.0, 6.0]))
    q.out_quant.refresh()
    with pytest.raises(RuntimeError, match='input is not fake-quantized'):
        q(torch.randn(1, 8, 5, 5))
    y = q(quantized_input(torch.randint(-128, 128, (1, 8, 5, 5)), 0.05, 3))
    assert qparams_of(y) is not None
