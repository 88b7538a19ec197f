"""Write a :class:`~mcudet.deploy.ir.Graph` as a ``.tflite`` flatbuffer that TFLite Micro runs.

Weights are inline buffers (16-byte aligned), conv weights per-channel along dim 0
(OHWI), depthwise along dim 3 (1HWC), biases int32 with scale s_in * s_w[c]. A 2-D op
whose explicit padding equals TFLite's SAME or VALID gets that flag; otherwise a
conv / depthwise gets an explicit PAD op (padding with the input zero point, which is
exactly "skip the out-of-image taps") followed by VALID. Pools cannot take that route
(padded taps would be counted), so a non-SAME/VALID pool is refused.
"""
from __future__ import annotations

import json
from typing import Any, Union

import numpy as np

from .ir import Graph, GraphError, Op, Tensor
from .ops import Padding, tflite_padding
from .tflite_schema import (
    ACTIVATION_TO_TFLITE,
    DTYPE_TO_TFLITE,
    KIND_TO_BUILTIN,
    builtin_code,
    enum_value,
    schema,
)

BUFFER_ALIGNMENT = 16
#: Name of the model metadata entry that carries op names and groups (TFLite has no op names).
IR_METADATA = 'mcudet_ir'


class _Writer:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.s = schema()
        self.tensors: list[Any] = []
        self.index: dict[str, int] = {}
        self.buffer_cls = _aligned_buffer_class()
        self.buffers: list[Any] = [self.buffer_cls()]  # buffer 0: the empty sentinel
        self.opcodes: list[Any] = []
        self.opcode_index: dict[str, int] = {}
        self.operators: list[Any] = []
        self.op_names: list[list[str]] = []  # [name, group] per written operator

    # ------------------------------------------------------------------ tensors
    def _buffer(self, data: np.ndarray) -> int:
        b = self.buffer_cls()
        b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
        self.buffers.append(b)
        return len(self.buffers) - 1

    def _add(self, name: str, shape, dtype: str, quant: Any = None,
             data: Union[np.ndarray, None] = None) -> int:
        t = self.s.TensorT()
        t.name = name.encode()
        t.shape = np.asarray(shape, dtype=np.int32)
        t.type = enum_value('TensorType', DTYPE_TO_TFLITE[dtype])
        t.buffer = self._buffer(data) if data is not None else 0
        t.quantization = quant
        self.tensors.append(t)
        self.index[name] = len(self.tensors) - 1
        return self.index[name]

    def _quant(self, scale, zero_point, dim: int = 0) -> Any:
        q = self.s.QuantizationParametersT()
        q.scale = np.atleast_1d(np.asarray(scale, dtype=np.float32))
        q.zeroPoint = np.atleast_1d(np.asarray(zero_point, dtype=np.int64))
        if q.zeroPoint.size == 1 and q.scale.size > 1:
            q.zeroPoint = np.zeros(q.scale.size, dtype=np.int64)
        q.quantizedDimension = int(dim)
        return q

    def tensor(self, name: str, op: Union[Op, None] = None) -> int:
        """Index of an IR tensor, writing it on first use (a bias gets its implied scale)."""
        if name in self.index:
            return self.index[name]
        t: Tensor = self.graph.tensor(name)
        quant = None
        if t.dtype == 'int8':
            quant = self._quant(t.scale, t.zero_point, t.quant_dim)
        elif t.dtype == 'int32' and op is not None:
            quant = self._quant(self._bias_scale(op, t.shape[0]), 0, 0)
        return self._add(name, t.shape, t.dtype, quant, t.data)

    def _const_i32(self, name: str, values) -> int:
        arr = np.asarray(values, dtype=np.int32)
        return self._add(self._unique(name), arr.shape, 'int32', None, arr)

    def _unique(self, name: str) -> str:
        base, i = name, 1
        while name in self.index or name in self.graph.tensors:
            name, i = f'{base}_{i}', i + 1
        return name

    # ------------------------------------------------------------------ operators
    def _operator(self, kind: str, inputs: list[int], outputs: list[int], options: Any = None) -> None:
        builtin, opt_name, version = KIND_TO_BUILTIN[kind]
        if builtin not in self.opcode_index:
            oc = self.s.OperatorCodeT()
            code = builtin_code(builtin)
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
            self.opcodes.append(oc)
            self.opcode_index[builtin] = len(self.opcodes) - 1
        o = self.s.OperatorT()
        o.opcodeIndex = self.opcode_index[builtin]
        o.inputs = np.asarray(inputs, dtype=np.int32)
        o.outputs = np.asarray(outputs, dtype=np.int32)
        if opt_name is not None:
            o.builtinOptionsType = getattr(self.s.BuiltinOptions, opt_name)
            o.builtinOptions = options if options is not None else getattr(self.s, opt_name + 'T')()
        self.operators.append(o)

    def _bias(self, op: Op) -> int:
        """The bias tensor; a zero bias when the op has none (TFLite Micro's depthwise kernel
        dereferences a missing bias and crashes)."""
        if len(op.inputs) > 2:
            return self.tensor(op.inputs[2], op)
        channels = self.graph.tensor(op.outputs[0]).shape[-1]
        quant = self._quant(self._bias_scale(op, channels), 0, 0)
        return self._add(self._unique(f'{op.name}/zero_bias'), (channels,), 'int32', quant,
                         np.zeros(channels, dtype=np.int32))

    def _bias_scale(self, op: Op, channels: int) -> np.ndarray:
        """s_in * s_w[c], the scale TFLite expects on an int32 bias."""
        x, w = self.graph.tensor(op.inputs[0]), self.graph.tensor(op.inputs[1])
        return (np.float64(np.float32(x.scale)) * w.scales(channels).astype(np.float64)).astype(np.float32)

    def _act(self, op: Op) -> int:
        return enum_value('ActivationFunctionType', ACTIVATION_TO_TFLITE[op.attrs.activation])

    def _window_op(self, op: Op) -> tuple[int, int]:
        """Input index and TFLite padding enum of conv / depthwise / pool, inserting a PAD if needed."""
        a = op.attrs
        x = self.graph.tensor(op.inputs[0])
        out = self.graph.tensor(op.outputs[0])
        x_idx = self.tensor(op.inputs[0])
        flag = tflite_padding(x.shape[1:3], out.shape[1:3], a.kernel, a.stride, a.dilation, a.padding)
        if flag is not None:
            return x_idx, enum_value('Padding', flag)
        if op.kind not in ('conv2d', 'depthwise_conv2d'):
            raise GraphError(f'{op.label()}: padding {a.padding.as_tuple()} on a {x.shape[1]}x{x.shape[2]} '
                             f'input is neither TFLite SAME nor VALID, and a PAD op before a pool would '
                             f'change the result; use SAME-compatible padding for pools')
        p: Padding = a.padding
        padded = (x.shape[0], x.shape[1] + p.top + p.bottom, x.shape[2] + p.left + p.right, x.shape[3])
        pad_name = self._unique(f'{op.name}/pad')
        pad_idx = self._add(pad_name, padded, 'int8', self._quant(x.scale, x.zero_point))
        paddings = self._const_i32(f'{op.name}/paddings',
                                   [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]])
        self._operator('pad', [x_idx, paddings], [pad_idx], self.s.PadOptionsT())
        return pad_idx, enum_value('Padding', 'VALID')

    def op(self, op: Op) -> None:
        a, k, s = op.attrs, op.kind, self.s
        outs = [self.tensor(op.outputs[0])]
        if k in ('conv2d', 'depthwise_conv2d'):
            x_idx, padding = self._window_op(op)
            o = s.Conv2DOptionsT() if k == 'conv2d' else s.DepthwiseConv2DOptionsT()
            o.padding, o.strideH, o.strideW = padding, a.stride[0], a.stride[1]
            o.dilationHFactor, o.dilationWFactor = a.dilation
            o.fusedActivationFunction = self._act(op)
            if k == 'depthwise_conv2d':
                o.depthMultiplier = a.depth_multiplier
            self._operator(k, [x_idx, self.tensor(op.inputs[1]), self._bias(op)], outs, o)
        elif k in ('average_pool2d', 'max_pool2d'):
            x_idx, padding = self._window_op(op)
            o = s.Pool2DOptionsT()
            o.padding, o.strideH, o.strideW = padding, a.stride[0], a.stride[1]
            o.filterHeight, o.filterWidth = a.kernel
            o.fusedActivationFunction = self._act(op)
            self._operator(k, [x_idx], outs, o)
        elif k == 'fully_connected':
            o = s.FullyConnectedOptionsT()
            o.fusedActivationFunction, o.keepNumDims = self._act(op), a.keep_num_dims
            self._operator(k, [self.tensor(op.inputs[0]), self.tensor(op.inputs[1]), self._bias(op)], outs, o)
        elif k in ('add', 'mul'):
            o = s.AddOptionsT() if k == 'add' else s.MulOptionsT()
            o.fusedActivationFunction = self._act(op)
            self._operator(k, [self.tensor(t) for t in op.inputs], outs, o)
        elif k == 'mean':
            o = s.ReducerOptionsT()
            o.keepDims = a.keep_dims
            axes = self._const_i32(f'{op.name}/axes', list(a.axes))
            self._operator(k, [self.tensor(op.inputs[0]), axes], outs, o)
        elif k == 'pad':
            paddings = self._const_i32(f'{op.name}/paddings', [list(p) for p in a.pads])
            self._operator(k, [self.tensor(op.inputs[0]), paddings], outs)
        elif k == 'resize_nearest':
            o = s.ResizeNearestNeighborOptionsT()
            o.alignCorners, o.halfPixelCenters = a.align_corners, a.half_pixel_centers
            size = self._const_i32(f'{op.name}/size', list(a.size))
            self._operator(k, [self.tensor(op.inputs[0]), size], outs, o)
        elif k == 'concat':
            o = s.ConcatenationOptionsT()
            o.axis = a.axis
            self._operator(k, [self.tensor(t) for t in op.inputs], outs, o)
        elif k == 'reshape':
            o = s.ReshapeOptionsT()
            shape = self.graph.tensor(op.outputs[0]).shape
            o.newShape = np.asarray(shape, dtype=np.int32)
            new_shape = self._const_i32(f'{op.name}/shape', list(shape))
            self._operator(k, [self.tensor(op.inputs[0]), new_shape], outs, o)
        elif k == 'transpose':
            perm = self._const_i32(f'{op.name}/perm', list(a.perm))
            self._operator(k, [self.tensor(op.inputs[0]), perm], outs)
        elif k in ('quantize', 'dequantize'):
            self._operator(k, [self.tensor(op.inputs[0])], outs)
        else:
            raise GraphError(f'{op.label()}: the .tflite writer has no rule for this kind')

    # ------------------------------------------------------------------ model
    def model(self, description: str) -> Any:
        g = self.graph
        inputs = [self.tensor(t) for t in g.inputs]
        for op in g.ops:
            first = len(self.operators)
            self.op(op)
            for i in range(first, len(self.operators)):  # an inserted PAD comes before its conv
                last = i == len(self.operators) - 1
                self.op_names.append([op.name if last else f'{op.name}/pad', op.group])
        sub = self.s.SubGraphT()
        sub.tensors, sub.operators, sub.name = self.tensors, self.operators, g.name.encode()
        sub.inputs = np.asarray(inputs, dtype=np.int32)
        sub.outputs = np.asarray([self.tensor(t) for t in g.outputs], dtype=np.int32)
        m = self.s.ModelT()
        m.version, m.description = 3, description.encode()
        meta = self.s.MetadataT()
        meta.name = IR_METADATA.encode()
        info = {'format': 'mcudet.ir/1', 'graph': g.name, 'ops': self.op_names}
        meta.buffer = self._buffer(np.frombuffer(json.dumps(info).encode(), dtype=np.uint8))
        m.operatorCodes, m.subgraphs, m.buffers, m.metadata = self.opcodes, [sub], self.buffers, [meta]
        return m


def _aligned_buffer_class() -> type:
    """A BufferT whose data vector is aligned to 16 bytes (int32 biases, SIMD loads)."""
    s = schema()

    class AlignedBufferT(s.BufferT):
        def Pack(self, builder: Any) -> int:  # noqa: N802 - the generated API's name
            data = None
            if self.data is not None and len(self.data):
                payload = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head = builder.head - len(payload)
                builder.Bytes[builder.head:builder.head + len(payload)] = payload
                builder.vectorNumElems = len(payload)
                data = builder.EndVector()
            s.BufferStart(builder)
            if data is not None:
                s.BufferAddData(builder, data)
            return s.BufferEnd(builder)

    return AlignedBufferT


def write_tflite(graph: Graph, description: str = 'mcudet integer graph') -> bytes:
    """Serialise ``graph`` (validated and finalized here) to ``.tflite`` bytes."""
    import flatbuffers

    if not graph.finalized:
        graph.finalize()
    model = _Writer(graph).model(description)
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=b'TFL3')
    return bytes(builder.Output())
