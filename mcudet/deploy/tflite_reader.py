"""Read a ``.tflite`` flatbuffer into a :class:`~mcudet.deploy.ir.Graph`.

Handles what converters emit around int8 MobileNet-style models: explicit PAD ops
(kept: follow the graph), QUANTIZE / DEQUANTIZE at the ends, TRANSPOSE + MEAN pairs for
global pooling (kept as two MEANs: merging them would change the rounding), RESHAPE,
AVERAGE_POOL_2D, ADD, FULLY_CONNECTED. Any other op is refused with its name and
index. Buffers stored outside the flatbuffer (offset buffers) are read from the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

import numpy as np

from .ir import Graph, GraphError, Op, Tensor
from .ops import (
    Add,
    Concat,
    Conv2D,
    DepthwiseConv2D,
    Dequantize,
    FullyConnected,
    Mean,
    Mul,
    Pad,
    Padding,
    Pool2D,
    Quantize,
    Reshape,
    ResizeNearest,
    Transpose,
)
from .tflite_schema import builtin_name, enum_name, schema

_DTYPES = {'INT8': 'int8', 'INT32': 'int32', 'FLOAT32': 'float32'}
_ACTIVATIONS = {'NONE': 'none', 'RELU': 'relu', 'RELU6': 'relu6'}
SUPPORTED_BUILTINS = ('CONV_2D', 'DEPTHWISE_CONV_2D', 'AVERAGE_POOL_2D', 'MAX_POOL_2D', 'ADD', 'MUL',
                      'MEAN', 'FULLY_CONNECTED', 'PAD', 'PADV2', 'RESIZE_NEAREST_NEIGHBOR', 'CONCATENATION',
                      'RESHAPE', 'SQUEEZE', 'TRANSPOSE', 'QUANTIZE', 'DEQUANTIZE')
_SOFTMAX_HINT = ('SOFTMAX is not part of the integer IR (its int8 kernel uses fixed-point exp tables); '
                 'cut the model before it (argmax of the logits gives the same class) or add a kernel')


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        s = schema()
        self.data, self.source = data, source
        if not s.Model.ModelBufferHasIdentifier(data, 0):
            raise GraphError(f'{source}: not a .tflite flatbuffer (no TFL3 identifier)')
        self.model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
        if len(self.model.subgraphs) != 1:
            raise GraphError(f'{source}: {len(self.model.subgraphs)} subgraphs; only single-subgraph models '
                             f'are supported')
        self.sub = self.model.subgraphs[0]
        self.names: dict[int, str] = {}
        self.graph = Graph((self.sub.name or b'').decode() or Path(source).stem)

    # ------------------------------------------------------------------ tensors
    def buffer(self, index: int) -> Union[np.ndarray, None]:
        b = self.model.buffers[index]
        if b.data is not None and len(b.data):
            return np.asarray(b.data, dtype=np.uint8)
        if b.offset > 1 and b.size:
            return np.frombuffer(self.data[b.offset:b.offset + b.size], dtype=np.uint8)
        return None

    def const(self, index: int, what: str, op_label: str) -> np.ndarray:
        t = self.sub.tensors[index]
        raw = self.buffer(t.buffer)
        if raw is None:
            raise GraphError(f'{self.source}: {op_label}: {what} must be a constant tensor')
        dtype = {2: np.int32, 4: np.int64}.get(t.type)
        if dtype is None:
            raise GraphError(f'{self.source}: {op_label}: {what} has type {enum_name("TensorType", t.type)}')
        return raw.view(dtype).reshape(tuple(int(d) for d in t.shape)).astype(np.int64)

    def tensor(self, index: int) -> str:
        """IR name of flatbuffer tensor ``index``, converting it on first use."""
        if index in self.names:
            return self.names[index]
        t = self.sub.tensors[index]
        raw_name = (t.name or b'').decode(errors='replace') or f'tensor_{index}'
        name = raw_name if raw_name not in self.graph.tensors else f'{raw_name}#{index}'
        type_name = enum_name('TensorType', t.type)
        if type_name not in _DTYPES:
            raise GraphError(f'{self.source}: tensor {index} ({raw_name!r}) has type {type_name}; '
                             f'supported: {sorted(_DTYPES)}')
        dtype = _DTYPES[type_name]
        scale, zp, qdim = None, 0, 0
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale):
            scale = np.asarray(q.scale, dtype=np.float32)
            zps = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], dtype=np.int64)
            if scale.size > 1 and np.any(zps != 0):
                raise GraphError(f'{self.source}: tensor {raw_name!r} has per-channel zero points')
            zp, qdim = int(zps[0]), int(q.quantizedDimension)
        raw = self.buffer(t.buffer)
        data = None
        if raw is not None:
            data = raw.view({'int8': np.int8, 'int32': np.int32, 'float32': np.float32}[dtype])
        shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
        self.graph.add_tensor(Tensor(name, shape, dtype, scale, zp, qdim, data))
        self.graph.metadata.setdefault('tflite_tensor_index', {})[name] = index
        self.names[index] = name
        return name

    # ------------------------------------------------------------------ operators
    def _act(self, options: Any, label: str) -> str:
        name = enum_name('ActivationFunctionType', options.fusedActivationFunction)
        if name not in _ACTIVATIONS:
            raise GraphError(f'{self.source}: {label}: fused activation {name} is not supported '
                             f'(supported: {sorted(_ACTIVATIONS)})')
        return _ACTIVATIONS[name]

    def _padding(self, options: Any, in_shape, kernel, stride, dilation, label: str) -> Padding:
        flag = enum_name('Padding', options.padding)
        if flag == 'VALID':
            return Padding()
        if flag == 'SAME':
            return Padding.same(in_shape[1:3], kernel, stride, dilation)
        raise GraphError(f'{self.source}: {label}: padding {flag}')

    def op(self, i: int, o: Any) -> None:
        code = o.opcodeIndex
        oc = self.model.operatorCodes[code]
        builtin = builtin_name(max(oc.builtinCode, oc.deprecatedBuiltinCode))
        label = f'operator {i} ({builtin})'
        opts = o.builtinOptions
        ins = [int(t) for t in o.inputs]
        outs = [int(t) for t in o.outputs]
        in_shape = tuple(int(d) for d in self.sub.tensors[ins[0]].shape) if ins else ()
        keep = ins  # flatbuffer inputs that become IR inputs
        if builtin in ('CONV_2D', 'DEPTHWISE_CONV_2D'):
            w_shape = tuple(int(d) for d in self.sub.tensors[ins[1]].shape)
            kernel, stride = w_shape[1:3], (opts.strideH, opts.strideW)
            dilation = (opts.dilationHFactor, opts.dilationWFactor)
            padding = self._padding(opts, in_shape, kernel, stride, dilation, label)
            if builtin == 'CONV_2D':
                kind, attrs = 'conv2d', Conv2D(kernel, stride, padding, dilation, self._act(opts, label))
            else:
                mult = w_shape[3] // in_shape[3]
                kind = 'depthwise_conv2d'
                attrs = DepthwiseConv2D(kernel, stride, padding, dilation, mult, self._act(opts, label))
            keep = [t for t in ins if t >= 0]
        elif builtin in ('AVERAGE_POOL_2D', 'MAX_POOL_2D'):
            kernel, stride = (opts.filterHeight, opts.filterWidth), (opts.strideH, opts.strideW)
            padding = self._padding(opts, in_shape, kernel, stride, (1, 1), label)
            kind = 'average_pool2d' if builtin == 'AVERAGE_POOL_2D' else 'max_pool2d'
            attrs = Pool2D(kernel, stride, padding, self._act(opts, label))
        elif builtin == 'FULLY_CONNECTED':
            if opts.weightsFormat != 0:
                raise GraphError(f'{self.source}: {label}: shuffled weights format is not supported')
            kind, attrs = 'fully_connected', FullyConnected(self._act(opts, label), bool(opts.keepNumDims))
            keep = [t for t in ins if t >= 0]
        elif builtin in ('ADD', 'MUL'):
            kind = builtin.lower()
            attrs = (Add if kind == 'add' else Mul)(self._act(opts, label))
        elif builtin == 'MEAN':
            axes = tuple(int(a) for a in self.const(ins[1], 'the axis', label).ravel())
            kind, attrs, keep = 'mean', Mean(axes, bool(opts.keepDims)), ins[:1]
        elif builtin in ('PAD', 'PADV2'):
            pads = tuple((int(b), int(a)) for b, a in self.const(ins[1], 'the paddings', label))
            if builtin == 'PADV2' and len(ins) > 2:
                value = int(self.buffer(self.sub.tensors[ins[2]].buffer).view(np.int8)[0])
                zp = self.graph.tensor(self.tensor(ins[0])).zero_point
                if value != zp:
                    raise GraphError(f'{self.source}: {label}: pads with {value}, not the zero point {zp}')
            kind, attrs, keep = 'pad', Pad(pads), ins[:1]
        elif builtin == 'RESIZE_NEAREST_NEIGHBOR':
            size = tuple(int(v) for v in self.const(ins[1], 'the size', label).ravel())
            kind, keep = 'resize_nearest', ins[:1]
            attrs = ResizeNearest(size, bool(opts.alignCorners), bool(opts.halfPixelCenters))
        elif builtin == 'CONCATENATION':
            if self._act(opts, label) != 'none':
                raise GraphError(f'{self.source}: {label}: a fused activation on CONCATENATION')
            kind, attrs = 'concat', Concat(int(opts.axis))
        elif builtin in ('RESHAPE', 'SQUEEZE'):
            kind, attrs, keep = 'reshape', Reshape(), ins[:1]
        elif builtin == 'TRANSPOSE':
            perm = tuple(int(p) for p in self.const(ins[1], 'the permutation', label).ravel())
            kind, attrs, keep = 'transpose', Transpose(perm), ins[:1]
        elif builtin == 'QUANTIZE':
            kind, attrs = 'quantize', Quantize()
        elif builtin == 'DEQUANTIZE':
            kind, attrs = 'dequantize', Dequantize()
        elif builtin == 'SOFTMAX':
            raise GraphError(f'{self.source}: {label}: {_SOFTMAX_HINT}')
        else:
            raise GraphError(f'{self.source}: {label} is not supported by the integer IR; supported: '
                             f'{", ".join(SUPPORTED_BUILTINS)}')
        names = [self.tensor(t) for t in keep]
        out = [self.tensor(t) for t in outs]
        self.graph.add_op(Op(kind, f'{kind}_{i}', tuple(names), tuple(out), attrs))

    def _ir_names(self) -> Union[list[list[str]], None]:
        """Op names and groups written by our writer (metadata 'mcudet_ir'), if present and consistent."""
        for meta in self.model.metadata or []:
            if meta.name == b'mcudet_ir':
                raw = self.buffer(meta.buffer)
                try:
                    names = json.loads(bytes(raw).decode())['ops'] if raw is not None else None
                except (ValueError, KeyError, TypeError):
                    return None
                if isinstance(names, list) and len(names) == len(self.sub.operators or []):
                    return names
        return None

    def read(self) -> Graph:
        g = self.graph
        g.inputs = [self.tensor(int(t)) for t in self.sub.inputs]
        for i, o in enumerate(self.sub.operators or []):
            self.op(i, o)
        names = self._ir_names()
        if names is not None and len({n for n, _ in names}) == len(names):
            for op, (name, group) in zip(g.ops, names):
                op.name, op.group = str(name), str(group)
        g.outputs = [self.tensor(int(t)) for t in self.sub.outputs]
        g.metadata['source'] = self.source
        g.metadata['description'] = (self.model.description or b'').decode(errors='replace')
        try:
            return g.finalize()
        except GraphError as e:
            raise GraphError(f'{self.source}: {e}') from None


def read_tflite(model: Union[bytes, str, Path], source: str = '') -> Graph:
    """Parse a ``.tflite`` file or its bytes into a finalized integer graph.

    Raises GraphError naming the operator index and builtin for anything unsupported.
    """
    if isinstance(model, (str, Path)):
        source = source or str(model)
        model = Path(model).read_bytes()
    return _Reader(bytes(model), source or '<tflite bytes>').read()
