"""Observers, int8 parameters and the fake quantization of activations, weights and biases."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mcudet.quantization import ActQuant, build_observer, choose_qparams
from mcudet.quantization.fake_quant import (
    bias_scale,
    fake_quant_bias,
    fake_quant_weight,
    int_bias,
    int_weight,
    qparams_of,
    quantized_input,
    weight_scale,
)
from mcudet.quantization.observers import EMAMinMaxObserver, MinMaxObserver, PercentileObserver


# ---------------------------------------------------------------------- qparams
@pytest.mark.parametrize('lo,hi', [(0.0, 6.0), (-1.0, 1.0), (-3.0, 0.5), (0.2, 4.0), (-2.0, -0.5),
                                   (0.0, 0.0)])
def test_qparams_cover_the_range_and_zero(lo, hi):
    scale, zp = choose_qparams(lo, hi)
    assert scale == float(np.float32(scale)) and -128 <= zp <= 127
    real = lambda q: scale * (q - zp)  # noqa: E731
    assert real(-128) <= min(lo, 0.0) + scale and real(127) >= max(hi, 0.0) - scale
    assert real(zp) == 0.0  # zero is exact: padding and ReLU's lower bound


def test_relu_outputs_get_zero_point_minus_128():
    assert choose_qparams(0.0, 6.0) == (pytest.approx(6 / 255), -128)
    assert choose_qparams(0.0, 5.9)[1] == -128


def test_minmax_ema_percentile_observers():
    x1, x2 = torch.linspace(-1, 2, 1001), torch.linspace(-3, 1, 1001)
    mm = MinMaxObserver()
    mm.update(x1)
    mm.update(x2)
    assert mm.range() == (-3.0, 2.0) and int(mm.num_batches) == 2
    ema = EMAMinMaxObserver(momentum=0.5)
    ema.update(x1)
    ema.update(x2)
    assert ema.range() == pytest.approx((-2.0, 1.5))
    x = torch.cat([torch.linspace(-1, 1, 10000), torch.tensor([50.0])])  # one outlier
    pc = PercentileObserver(99.9)
    pc.update(x)
    lo, hi = pc.range()
    assert -1.0 <= lo < -0.99 and 0.99 < hi <= 1.0
    big = PercentileObserver(99.0, max_samples=1000)
    big.update(torch.linspace(0, 1, 100_000))
    assert big.range()[1] == pytest.approx(0.99, abs=0.01)


def test_build_observer_errors_name_the_choices():
    assert isinstance(build_observer(dict(type='percentile', percentile=99.5)), PercentileObserver)
    with pytest.raises(ValueError, match="'ema', 'minmax', 'percentile'"):
        build_observer('kl')
    with pytest.raises(ValueError, match='percentile'):
        build_observer(dict(type='percentile', percentile=30))


# ---------------------------------------------------------------------- weights and biases
def test_weights_are_per_channel_symmetric_int8():
    torch.manual_seed(0)
    w = torch.randn(8, 4, 3, 3) * torch.linspace(0.01, 2, 8).reshape(-1, 1, 1, 1)
    s = weight_scale(w)
    assert torch.allclose(s, w.abs().amax(dim=(1, 2, 3)) / 127)
    q = int_weight(fake_quant_weight(w, s), s)
    assert q.dtype == torch.int8 and int(q.min()) >= -127 and int(q.max()) <= 127
    assert (q.abs().amax(dim=(1, 2, 3)) == 127).all()  # every channel uses its full range
    assert torch.allclose(q.float() * s.reshape(-1, 1, 1, 1), w, atol=float(s.max()) / 2 + 1e-7)


def test_bias_is_int32_at_input_times_weight_scale():
    s_in, s_w = torch.tensor([0.02]), torch.tensor([0.001, 0.004])
    b = torch.tensor([0.1234567, -0.5])
    q = int_bias(b, s_in, s_w)
    assert q.tolist() == [round(0.1234567 / (0.02 * 0.001)), round(-0.5 / (0.02 * 0.004))]
    assert torch.allclose(fake_quant_bias(b, s_in, s_w), q.float() * bias_scale(s_in, s_w))


def test_zero_weight_channel_keeps_its_bias():
    """A pruned channel (all-zero weights) still outputs its bias: no int32 overflow, no zero multiplier."""
    w = torch.zeros(2, 3, 1, 1)
    w[0] = 0.5
    b = torch.tensor([0.1, 3.0])
    s_in = torch.tensor([0.01])
    s = weight_scale(w, b, s_in)
    q = int_bias(b, s_in, s)
    assert abs(int(q[1])) < 2 ** 31 - 1
    assert float(q[1]) * float(s_in) * float(s[1]) == pytest.approx(3.0, rel=1e-6)


def test_straight_through_gradients():
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    fake_quant_weight(w, weight_scale(w)).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    b = torch.randn(4, requires_grad=True)
    fake_quant_bias(b, torch.tensor([0.1]), torch.full((4,), 0.01)).sum().backward()
    assert torch.equal(b.grad, torch.ones(4))
    q = ActQuant()
    q.observer.update(torch.tensor([0.0, 1.0]))
    q.refresh()
    q.enabled.fill_(True)
    x = torch.tensor([-0.5, 0.5, 2.0], requires_grad=True)
    q.eval()(x).sum().backward()  # eval: the range stays [0, 1]
    assert x.grad.tolist() == [0.0, 1.0, 0.0]  # zero outside the int8 range


# ---------------------------------------------------------------------- activations
def test_act_quant_observes_only_when_training_or_calibrating():
    q = ActQuant('minmax')
    q.eval()
    q(torch.tensor([5.0]))
    assert not q.ready
    q.train()
    q(torch.tensor([-1.0, 2.0]))
    assert q.ready and q.observer.range() == (-1.0, 2.0)
    q.eval()
    q.calibrating = True
    q(torch.tensor([4.0]))
    assert q.observer.range() == (-1.0, 4.0)


def test_act_quant_tags_its_output_and_refuses_uncalibrated_use():
    q = ActQuant('minmax')
    q.enabled.fill_(True)
    with pytest.raises(RuntimeError, match='calibrate first'):
        q.eval()(torch.zeros(2))
    q.train()(torch.tensor([0.0, 1.0]))
    y = q.eval()(torch.tensor([0.3]))
    scale, zp = qparams_of(y)
    assert float(scale) == pytest.approx(1 / 255) and int(zp) == -128
    assert float(y) == pytest.approx(round(0.3 * 255) / 255)


def test_quantization_state_lives_in_buffers_and_float_checkpoints_load():
    a = ActQuant('ema')
    a.train()(torch.tensor([-2.0, 3.0]))
    a.enabled.fill_(True)
    b = ActQuant('ema')
    b.load_state_dict(a.state_dict())
    assert b.qparams() == a.qparams() and bool(b.enabled) and b.ready
    c = ActQuant('ema')
    c.load_state_dict({}, strict=True)  # a float checkpoint has no quantizer entries
    assert not c.ready


def test_quantized_input_holds_int8_values():
    q = torch.tensor([[-128, 0, 127]])
    x = quantized_input(q, 0.5, -10)
    assert x.tolist() == [[-59.0, 5.0, 68.5]]
    assert int(qparams_of(x)[1]) == -10
