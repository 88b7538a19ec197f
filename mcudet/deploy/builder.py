"""A small helper to build integer graphs op by op (used by lowering, tests and synthetic models).

Each call adds one op and its output tensor (shape inferred from the inputs) and
returns the output tensor's name::

    b = GraphBuilder('tiny')
    x = b.input('image', (1, 32, 32, 3), scale=1 / 128, zero_point=0)
    y = b.conv2d('stem', x, w_q, bias_q, w_scale, out_scale=0.05, out_zp=-128,
                 stride=(2, 2), padding=Padding.symmetric((3, 3)), activation='relu6')
    b.output(y)
    graph = b.build()          # validated, multipliers computed
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

from .ir import Graph, Op, Tensor
from .ops import Conv2D, DepthwiseConv2D, FullyConnected, Padding, infer_shape

Scale = Union[float, np.ndarray]


class GraphBuilder:
    """Accumulates tensors and ops; :meth:`build` validates and finalizes the graph."""

    def __init__(self, name: str = 'graph') -> None:
        self.graph = Graph(name)

    def input(self, name: str, shape: Sequence[int], scale: Optional[float] = None, zero_point: int = 0,
              dtype: str = 'int8') -> str:
        self.graph.add_tensor(Tensor(name, tuple(shape), dtype, scale, zero_point))
        self.graph.inputs.append(name)
        return name

    def const(self, name: str, data: np.ndarray, scale: Optional[Scale] = None, zero_point: int = 0,
              quant_dim: int = 0, dtype: Optional[str] = None) -> str:
        data = np.asarray(data)
        dtype = dtype or {np.dtype(np.int8): 'int8', np.dtype(np.int32): 'int32'}.get(data.dtype, 'float32')
        self.graph.add_tensor(Tensor(name, data.shape, dtype, scale, zero_point, quant_dim, data))
        return name

    def op(self, kind: str, name: str, inputs: Sequence[str], attrs, out_scale: Optional[float] = None,
           out_zp: int = 0, out_dtype: str = 'int8', out_shape: Optional[Sequence[int]] = None,
           group: str = '', out_name: Optional[str] = None) -> str:
        """Add any op; the output tensor is ``out_name`` (default: the op name)."""
        shapes = [self.graph.tensor(t).shape for t in inputs]
        shape = infer_shape(kind, attrs, shapes, tuple(out_shape) if out_shape is not None else ())
        out = out_name or name
        self.graph.add_tensor(Tensor(out, shape, out_dtype, out_scale, out_zp))
        self.graph.add_op(Op(kind, name, tuple(inputs), (out,), attrs, group))
        return out

    def _weights(self, name: str, w: np.ndarray, bias: Optional[np.ndarray], w_scale: Scale,
                 quant_dim: int) -> list[str]:
        names = [self.const(f'{name}.weight', np.asarray(w, dtype=np.int8), w_scale, 0, quant_dim)]
        if bias is not None:
            names.append(self.const(f'{name}.bias', np.asarray(bias, dtype=np.int32), dtype='int32'))
        return names

    def conv2d(self, name: str, x: str, w: np.ndarray, bias: Optional[np.ndarray], w_scale: Scale,
               out_scale: float, out_zp: int, stride=(1, 1), padding: Optional[Padding] = None,
               dilation=(1, 1), activation: str = 'none', group: str = '') -> str:
        """CONV_2D with weights OHWI; ``padding`` defaults to PyTorch's symmetric k // 2."""
        kernel = tuple(np.shape(w)[1:3])
        padding = padding if padding is not None else Padding.symmetric(kernel, tuple(dilation))
        attrs = Conv2D(kernel, tuple(stride), padding, tuple(dilation), activation)
        ins = [x] + self._weights(name, w, bias, w_scale, 0)
        return self.op('conv2d', name, ins, attrs, out_scale, out_zp, group=group)

    def depthwise_conv2d(self, name: str, x: str, w: np.ndarray, bias: Optional[np.ndarray], w_scale: Scale,
                         out_scale: float, out_zp: int, stride=(1, 1), padding: Optional[Padding] = None,
                         dilation=(1, 1), activation: str = 'none', group: str = '') -> str:
        """DEPTHWISE_CONV_2D with weights 1HWC (channels = input channels x depth multiplier)."""
        kernel = tuple(np.shape(w)[1:3])
        padding = padding if padding is not None else Padding.symmetric(kernel, tuple(dilation))
        multiplier = np.shape(w)[3] // self.graph.tensor(x).shape[3]
        attrs = DepthwiseConv2D(kernel, tuple(stride), padding, tuple(dilation), multiplier, activation)
        ins = [x] + self._weights(name, w, bias, w_scale, 3)
        return self.op('depthwise_conv2d', name, ins, attrs, out_scale, out_zp, group=group)

    def fully_connected(self, name: str, x: str, w: np.ndarray, bias: Optional[np.ndarray], w_scale: Scale,
                        out_scale: float, out_zp: int, activation: str = 'none', group: str = '') -> str:
        ins = [x] + self._weights(name, w, bias, w_scale, 0)
        attrs = FullyConnected(activation)
        return self.op('fully_connected', name, ins, attrs, out_scale, out_zp, group=group)

    def output(self, name: str) -> None:
        self.graph.outputs.append(name)

    def build(self) -> Graph:
        return self.graph.finalize()
