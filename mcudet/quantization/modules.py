"""Fake-quant modules: each computes one int8 op of the integer graph in float, and can emit it.

Every module here ends in an :class:`~mcudet.quantization.fake_quant.ActQuant` (its
output quantization) and, while a :class:`~mcudet.quantization.trace.Tracer` is active,
appends its IR op(s). The float computation mirrors the int8 kernel: inputs are
fake-quantized (tagged with their scale / zero point), weights per channel, biases to
int32 steps of ``s_in * s_w``, the fused ReLU / ReLU6 is the output clamp.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mcudet.deploy import quant_math as qm
from mcudet.deploy.ops import Add, Concat, Mean, Mul, Padding, ResizeNearest

from . import integer
from .fake_quant import (
    ActQuant,
    fake_quant_bias,
    fake_quant_weight,
    int_bias,
    int_weight,
    keep_missing_buffers,
    qparams_of,
    tag,
    weight_scale,
)
from .trace import TraceError, Tracer, active_tracer

ObserverCfg = Union[str, dict, None]
NCHW_TO_NHWC = {0: 0, 1: 3, 2: 1, 3: 2}
#: The squeeze-excite gate after hardsigmoid spans [0, 1]: int8 with scale 1/255, zero point -128.
GATE_QPARAMS = (1.0 / 255.0, -128)


def activation_kind(act: Optional[nn.Module], where: str) -> str:
    """'relu', 'relu6' or 'none' for an activation module (the activations int8 fuses)."""
    if act is None:
        return 'none'
    if type(act) is nn.ReLU:
        return 'relu'
    if type(act) is nn.ReLU6 or (type(act) is nn.Hardtanh and (act.min_val, act.max_val) == (0.0, 6.0)):
        return 'relu6'
    raise TypeError(f'{where}: activation {type(act).__name__} has no int8 fusion; use ReLU or ReLU6 '
                    '(int8 kernels fuse them as the output clamp)')


def _input_qparams(module: nn.Module, x: torch.Tensor, where: str):
    qp = qparams_of(x)
    if qp is None and not module.training:
        raise RuntimeError(f'{where}: its input is not fake-quantized. A quantized model must be fed '
                           "through its data preprocessor (prepare_model installs the input quantizer) "
                           'or with mcudet.quantization.quantized_input(q, scale, zero_point)')
    return qp


class QuantModule(nn.Module):
    """Base: owns ``out_quant``; subclasses implement ``_lower(tracer, inputs, output)``.

    ``integer_eval`` (default True): in eval mode with fake quantization on, compute the
    output with the integer kernels (:mod:`mcudet.quantization.integer`), bit-exact with
    the integer graph; off, or in training, round a float result (fake quantization).
    """

    integer_eval = True

    def __init__(self, observer: ObserverCfg = None, fixed: Optional[tuple[float, int]] = None) -> None:
        super().__init__()
        self.out_quant = ActQuant(observer, fixed)

    @property
    def quant_enabled(self) -> bool:
        return bool(self.out_quant.enabled)

    def _integer(self) -> bool:
        return self.integer_eval and not self.training and self.quant_enabled

    def _int_out(self, q: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The float tensor of int8 values ``q``, tagged with the output quantization."""
        s, zp = self._out()
        return tag(integer.from_int(q, s, zp, like), self.out_quant.scale, self.out_quant.zero_point)

    def _finish(self, inputs: Sequence[torch.Tensor], y: torch.Tensor, exact: bool = False) -> torch.Tensor:
        if not exact:
            y = self.out_quant(y)
        tracer = active_tracer()
        if tracer is not None:
            if not self.quant_enabled:
                raise TraceError(f'{tracer.module_name(self)}: fake quantization is off; calibrate the model '
                                 '(or enable_fake_quant) before lowering it')
            self._lower(tracer, inputs, y)
        return y

    def _lower(self, tracer: Tracer, inputs: Sequence[torch.Tensor], y: torch.Tensor) -> None:
        raise NotImplementedError

    def _out(self) -> tuple[float, int]:
        return self.out_quant.qparams()


class _WeightedQuantModule(QuantModule):
    """Shared weight / bias quantization of convolutions and linear layers."""

    def _quantize_wb(self, w: torch.Tensor, b: torch.Tensor, in_qp) -> tuple[torch.Tensor, torch.Tensor,
                                                                                torch.Tensor]:
        in_scale = in_qp[0] if in_qp is not None else None
        s_w = weight_scale(w, b, in_scale)
        w_q = fake_quant_weight(w, s_w)
        if in_qp is not None:
            b = fake_quant_bias(b, in_scale, s_w)
        return w_q, b, s_w

    def _int_params(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """int8 weights, int32 bias and float32 weight scales exactly as the forward pass used them."""
        w_int, b_int, s_w = self._int_params_torch(x, w, b)
        return w_int.cpu().numpy(), b_int.cpu().numpy().astype(np.int32), s_w.cpu().numpy().astype(np.float32)

    def _int_params_torch(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        in_qp = qparams_of(x)
        w_q, _, s_w = self._quantize_wb(w, b, in_qp)
        return int_weight(w_q, s_w), int_bias(b, in_qp[0], s_w), s_w

    @torch.no_grad()
    def _integer_forward(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, fn) -> torch.Tensor:
        """The int8 kernel: exact int32 accumulation (float64 on integers), per-channel requantization."""
        s_in_t, zp_in_t = _input_qparams(self, x, type(self).__name__)
        w_int, b_int, s_w = self._int_params_torch(x, w, b)
        x_int = (integer.to_int(x, s_in_t, zp_in_t) - zp_in_t.long()).double()
        acc = torch.round(fn(x_int, w_int.double(), b_int.double())).long()
        s_out, zp_out = self._out()
        mult, shift = integer.channel_multipliers(float(s_in_t), s_w.cpu().numpy(), s_out, x.device,
                                                  acc.dim())
        lo, hi = qm.activation_range(self.activation, s_out, zp_out)
        return self._int_out(integer.requantize(acc, mult, shift, zp_out, lo, hi), x)


class QConvBNAct(_WeightedQuantModule):
    """Conv2d [+ BatchNorm] [+ ReLU/ReLU6] as one int8 CONV_2D / DEPTHWISE_CONV_2D.

    The children keep their names (``conv``/``bn``/``act`` of ``ConvBNAct``,
    ``conv``/``bn``/``activate`` of mmcv's ``ConvModule``), so float checkpoints load
    into the quantized model unchanged.

    Batch norm: in eval mode, and in training once ``bn_frozen`` is set, it is folded
    into the weights and bias on the fly (``w * gamma / std``, ``beta - gamma * mean / std``)
    and the folded weights are fake-quantized: exactly the int8 layer. In training before
    that, the batch statistics are used as in Jacob et al. (2018) / PyTorch's ConvBn QAT:
    the weights are folded with the running std and fake-quantized, the convolution is
    scaled back, and the BN layer normalises with the batch statistics (and updates
    its running statistics).

    Args:
        conv: The convolution (``groups`` 1 or depthwise; zero padding).
        bn: Its batch norm, or None.
        act: ``nn.ReLU`` / ``nn.ReLU6`` or None.
        names: Child names of (conv, bn, act).
        observer: Observer of the output range.
        gate: The squeeze-excite expand conv followed by the hard sigmoid: fold
            ``hardsigmoid(z) = clamp(z / 6 + 1/2, 0, 1)`` into the weights (/ 6) and bias
            (/ 6 + 1/2) and quantize the output to [0, 1] (scale 1/255, zero point -128).
    """

    def __init__(self, conv: nn.Conv2d, bn: Optional[nn.Module] = None, act: Optional[nn.Module] = None,
                 names: tuple[str, str, str] = ('conv', 'bn', 'act'), observer: ObserverCfg = None,
                 gate: bool = False, where: str = 'conv') -> None:
        super().__init__(observer, GATE_QPARAMS if gate else None)
        if not isinstance(conv, nn.Conv2d) or conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise TypeError(f'{where}: {type(conv).__name__} with padding {conv.padding!r} / '
                            f'{getattr(conv, "padding_mode", None)!r}; int8 lowering needs an nn.Conv2d with '
                            'numeric zero padding')
        if conv.groups not in (1, conv.in_channels):
            raise TypeError(f'{where}: grouped convolution (groups={conv.groups}) has no int8 kernel; use '
                            'groups=1 or depthwise (groups=in_channels)')
        if gate and (bn is not None or act is not None):
            raise ValueError(f'{where}: the hard-sigmoid gate conv must have neither BN nor activation')
        self._names = names
        self.add_module(names[0], conv)
        if bn is not None:
            self.add_module(names[1], bn)
        if act is not None:
            self.add_module(names[2], act)
        self.activation = 'relu' if gate else activation_kind(act, where)
        self.gate = gate
        self.register_buffer('bn_frozen', torch.tensor(False))
        keep_missing_buffers(self, ('bn_frozen',))

    @property
    def conv_layer(self) -> nn.Conv2d:
        return self._modules[self._names[0]]

    @property
    def weight(self) -> nn.Parameter:
        """The convolution's weight (code that initialises a bare conv, e.g. mmdet's heads, reads it)."""
        return self.conv_layer.weight

    @property
    def bias(self) -> Optional[nn.Parameter]:
        return self.conv_layer.bias

    @property
    def bn_layer(self) -> Optional[nn.Module]:
        return self._modules.get(self._names[1])

    @property
    def act_layer(self) -> Optional[nn.Module]:
        return self._modules.get(self._names[2])

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
        c = self.conv_layer
        return F.conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups)

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights and bias with the batch norm (running statistics) and the gate folded in."""
        c, bn = self.conv_layer, self.bn_layer
        w = c.weight
        b = c.bias if c.bias is not None else torch.zeros(w.shape[0], device=w.device, dtype=w.dtype)
        if bn is not None:
            std = torch.sqrt(bn.running_var + bn.eps)
            gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
            beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
            f = gamma / std
            w = w * f.reshape(-1, 1, 1, 1)
            b = (b - bn.running_mean) * f + beta
        if self.gate:
            w, b = w / 6.0, b / 6.0 + 0.5
        return w, b

    def _train_bn_forward(self, x: torch.Tensor) -> torch.Tensor:
        c, bn = self.conv_layer, self.bn_layer
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
        f = gamma / std
        w = c.weight * f.reshape(-1, 1, 1, 1)
        if self.quant_enabled:
            w = fake_quant_weight(w, weight_scale(w))
        y = self._conv(x, w, None) / f.reshape(1, -1, 1, 1)
        if c.bias is not None:
            y = y + c.bias.reshape(1, -1, 1, 1)
        return bn(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn_layer
        if self._integer():
            w, b = self.folded()
            return self._finish([x], self._integer_forward(x, w, b, self._conv), exact=True)
        if bn is not None and bn.training and not bool(self.bn_frozen):
            y = self._train_bn_forward(x)
        else:
            w, b = self.folded()
            if self.quant_enabled:
                w, b, _ = self._quantize_wb(w, b, _input_qparams(self, x, 'QConvBNAct'))
            y = self._conv(x, w, b)
        if self.gate:
            y = y.clamp(0.0, 1.0)  # the hard sigmoid's clamp (int8 saturation does it once quantized)
        elif self.activation == 'relu':
            y = F.relu(y)
        elif self.activation == 'relu6':
            y = F.relu6(y)
        return self._finish([x], y)

    @torch.no_grad()
    def _lower(self, tracer: Tracer, inputs: Sequence[torch.Tensor], y: torch.Tensor) -> None:
        x = inputs[0]
        x_name = tracer.name_of(x, self)
        w, b = self.folded()
        w_int, b_int, s_w = self._int_params(x, w, b)
        c = self.conv_layer
        ph, pw = c.padding
        padding = Padding(ph, ph, pw, pw)
        name, group = tracer.module_name(self), tracer.group(self)
        s_out, zp_out = self._out()
        kw = dict(stride=tuple(c.stride), padding=padding, dilation=tuple(c.dilation),
                  activation=self.activation, group=group)
        if c.groups == 1:
            w_ohwi = w_int.transpose(0, 2, 3, 1)
            if tracer.input_permutation is not None and x_name in tracer.graph.inputs:
                w_ohwi = w_ohwi[..., tracer.input_permutation]
            out = tracer.builder.conv2d(name, x_name, w_ohwi, b_int, s_w, s_out, zp_out, **kw)
        else:
            if tracer.input_permutation is not None and x_name in tracer.graph.inputs:
                raise TraceError(f'{name}: a depthwise first layer cannot reorder the input channels; '
                                 'feed the channel order the model was trained on')
            w_1hwc = w_int.transpose(1, 2, 3, 0)
            out = tracer.builder.depthwise_conv2d(name, x_name, w_1hwc, b_int, s_w, s_out, zp_out, **kw)
        tracer.bind(y, out)


class QLinear(_WeightedQuantModule):
    """nn.Linear as an int8 FULLY_CONNECTED (per-channel weights, int32 bias, no activation)."""

    def __init__(self, linear: nn.Linear, observer: ObserverCfg = None) -> None:
        super().__init__(observer)
        self.linear = linear
        self.activation = 'none'

    def _wb(self) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.linear.weight
        b = self.linear.bias if self.linear.bias is not None else torch.zeros(w.shape[0], device=w.device)
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self._wb()
        if self._integer():
            return self._finish([x], self._integer_forward(x, w, b, F.linear), exact=True)
        if self.quant_enabled:
            w, b, _ = self._quantize_wb(w, b, _input_qparams(self, x, 'QLinear'))
        return self._finish([x], F.linear(x, w, b))

    @torch.no_grad()
    def _lower(self, tracer: Tracer, inputs: Sequence[torch.Tensor], y: torch.Tensor) -> None:
        x = inputs[0]
        w, b = self._wb()
        w_int, b_int, s_w = self._int_params(x, w, b)
        s_out, zp_out = self._out()
        out = tracer.builder.fully_connected(tracer.module_name(self), tracer.name_of(x, self), w_int, b_int,
                                             s_w, s_out, zp_out, group=tracer.group(self))
        tracer.bind(y, out)


class _BinaryQuantModule(QuantModule):
    kind = ''

    def _binary(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if not self._integer():
            return self._finish([a, b], a + b if self.kind == 'add' else a * b)
        (sa, za), (sb, zb) = (_input_qparams(self, t, type(self).__name__) for t in (a, b))
        qa, qb = integer.to_int(a, sa, za), integer.to_int(b, sb, zb)
        fn = integer.add if self.kind == 'add' else integer.mul
        q = fn(qa, int(za), float(sa), qb, int(zb), float(sb), *self._out())
        return self._finish([a, b], self._int_out(q, a), exact=True)

    def _lower(self, tracer: Tracer, inputs: Sequence[torch.Tensor], y: torch.Tensor) -> None:
        names = [tracer.name_of(t, self) for t in inputs]
        attrs = Add() if self.kind == 'add' else Mul()
        out = tracer.builder.op(self.kind, tracer.module_name(self), names, attrs, *self._out(),
                                group=tracer.group(self))
        tracer.bind(y, out)


class QAdd(_BinaryQuantModule):
    """Elementwise ``a + b`` (the residual of an inverted-residual block) as int8 ADD."""

    kind = 'add'

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self._binary(a, b)


class QMul(_BinaryQuantModule):
    """Elementwise ``a * b`` with broadcasting (squeeze-excite scaling) as int8 MUL."""

    kind = 'mul'

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self._binary(a, b)


class QMean(QuantModule):
    """Mean over spatial dims (global average pooling) as int8 MEAN."""

    def __init__(self, dims: tuple[int, ...] = (2, 3), keepdim: bool = True,
                 observer: ObserverCfg = None) -> None:
        super().__init__(observer)
        self.dims = tuple(dims)
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._integer():
            return self._finish([x], x.mean(dim=self.dims, keepdim=self.keepdim))
        s_in, zp_in = _input_qparams(self, x, 'QMean')
        q = integer.mean(integer.to_int(x, s_in, zp_in), self.dims, self.keepdim, int(zp_in), float(s_in),
                         *self._out())
        return self._finish([x], self._int_out(q, x), exact=True)

    def _lower(self, tracer: Tracer, inputs: Sequence[torch.Tensor], y: torch.Tensor) -> None:
        axes = tuple(sorted(NCHW_TO_NHWC[d % 4] for d in self.dims))
        out = tracer.builder.op('mean', tracer.module_name(self), [tracer.name_of(inputs[0], self)],
                                Mean(axes, self.keepdim), *self._out(), group=tracer.group(self))
        tracer.bind(y, out)


class QConcat(QuantModule):
    """Channel concatenation as int8 CONCATENATION: one output scale; inputs that differ are
    requantized to it (QUANTIZE int8 -> int8), which is what fake-quantizing the concatenation does."""

    def __init__(self, dim: int = 1, observer: ObserverCfg = None) -> None:
        super().__init__(observer)
        self.dim = dim

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        xs = list(xs)
        if not self._integer():
            return self._finish(xs, torch.cat(xs, dim=self.dim))
        s, zp = self._out()
        parts = []
        for t in xs:
            st, zt = _input_qparams(self, t, 'QConcat')
            q = integer.to_int(t, st, zt)
            if np.float32(float(st)) != np.float32(s) or int(zt) != zp:
                q = integer.requantize_int8(q, int(zt), float(st), s, zp)
            parts.append(q)
        return self._finish(xs, self._int_out(torch.cat(parts, dim=self.dim), xs[0]), exact=True)

    def _lower(self, tracer: Tracer, inputs: Sequence[torch.Tensor], y: torch.Tensor) -> None:
        name, group = tracer.module_name(self), tracer.group(self)
        s, zp = self._out()
        names = [tracer.requantize(tracer.name_of(t, self), s, zp, f'{name}.requant{i}', group)
                 for i, t in enumerate(inputs)]
        out = tracer.builder.op('concat', name, names, Concat(NCHW_TO_NHWC[self.dim % 4]), s, zp, group=group)
        tracer.bind(y, out)


class QUpsample(nn.Module):
    """Nearest-neighbour upsampling by an integer factor as RESIZE_NEAREST_NEIGHBOR.

    It copies int8 values, so the output keeps the input's quantization and no observer
    is needed. PyTorch's 'nearest' index ``floor(i * in / out)`` is TFLite's rule without
    align_corners and half-pixel centres.
    """

    def __init__(self, scale_factor: int = 2) -> None:
        super().__init__()
        self.scale_factor = int(scale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.interpolate(x, scale_factor=self.scale_factor, mode='nearest')
        qp = qparams_of(x)
        if qp is not None:
            tag(y, *qp)
        tracer = active_tracer()
        if tracer is not None:
            size = (int(y.shape[2]), int(y.shape[3]))
            t = tracer.graph.tensor(tracer.name_of(x, self))
            out = tracer.builder.op('resize_nearest', tracer.module_name(self), [t.name], ResizeNearest(size),
                                    t.scale, t.zero_point, group=tracer.group(self))
            tracer.bind(y, out)
        return y
