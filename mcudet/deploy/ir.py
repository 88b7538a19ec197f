"""The integer graph: int8 tensors with scale / zero point, typed ops, multipliers precomputed once.

One graph feeds everything downstream (``design/architecture.md``, idea 3): the NumPy
reference executor (:mod:`mcudet.deploy.reference`, the specification), the patch
executor, the ``.tflite`` writer and reader, the memory planner and the C generator.

Conventions:
    * Activations are int8 NHWC with batch 1, one scale and zero point per tensor.
    * Conv weights are int8 OHWI (per-channel scales along dim 0), depthwise weights
      1HWC (dim 3), FC weights [N, K]; weight zero points are 0; biases are int32 with
      scale ``s_in * s_w[c]`` and zero point 0. These are TFLite's layouts, so neither
      the writer nor the C runtime transposes anything.
    * float32 appears only at the boundaries (QUANTIZE in, DEQUANTIZE out).
    * Ops are listed in topological order; :meth:`Graph.finalize` validates the graph
      and computes every op's integer parameters (:mod:`mcudet.deploy.params`) once.

Build a graph with :meth:`Graph.add_tensor` / :meth:`Graph.add_op`, then call
:meth:`Graph.finalize`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from .ops import OP_KINDS, SAME_QUANT_KINDS, Attrs, infer_shape

DTYPES = {'int8': np.int8, 'int32': np.int32, 'float32': np.float32}


class GraphError(ValueError):
    """An invalid graph; the message names the op or tensor and what is wrong."""


@dataclass
class Tensor:
    """A tensor of the graph.

    Args:
        name: Unique name.
        shape: Shape (NHWC for feature maps).
        dtype: 'int8', 'int32' or 'float32'.
        scale: Per-tensor float, or a per-channel array (weights, biases) along ``quant_dim``;
            None for float32 tensors.
        zero_point: Per-tensor zero point (0 for weights and biases).
        quant_dim: Axis of a per-channel ``scale`` (0 for conv OHWI, 3 for depthwise 1HWC).
        data: Constant contents (weights, biases) or None for activations.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = 'int8'
    scale: Union[float, np.ndarray, None] = None
    zero_point: int = 0
    quant_dim: int = 0
    data: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        if self.dtype not in DTYPES:
            raise GraphError(f'tensor {self.name!r}: dtype {self.dtype!r} is not one of {tuple(DTYPES)}')
        if isinstance(self.scale, (np.ndarray, list, tuple)):
            self.scale = np.asarray(self.scale, dtype=np.float32).ravel()
            if self.scale.size == 1:
                self.scale = float(self.scale[0])
        elif self.scale is not None:
            self.scale = float(np.float32(self.scale))
        self.zero_point = int(self.zero_point)
        if self.data is not None:
            self.data = np.asarray(self.data, dtype=DTYPES[self.dtype]).reshape(self.shape)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def per_channel(self) -> bool:
        return isinstance(self.scale, np.ndarray)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(DTYPES[self.dtype]).itemsize

    def scales(self, channels: int) -> np.ndarray:
        """Scale per channel (a per-tensor scale repeated), float32."""
        if self.per_channel:
            return np.asarray(self.scale, dtype=np.float32)
        return np.full(channels, np.float32(self.scale), dtype=np.float32)


@dataclass
class Op:
    """One operation.

    Args:
        kind: A key of :data:`mcudet.deploy.ops.OP_KINDS` ('conv2d', 'add', ...).
        name: Unique name (layer names such as 'blocks.1.dw' let plans refer to it).
        inputs: Tensor names; optional trailing inputs (a missing bias) may be omitted.
        outputs: Tensor names (one for every kind here).
        attrs: The kind's attribute dataclass.
        group: Optional source unit ('blocks.3'): consecutive ops of one group form one
            unit of a patch plan (see :mod:`mcudet.deploy.patch_exec`).
        params: Integer parameters; filled by :meth:`Graph.finalize`, never by hand.
    """

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Attrs
    group: str = ''
    params: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.inputs = tuple(self.inputs)
        self.outputs = tuple(self.outputs)

    def label(self) -> str:
        return f'op {self.name!r} ({self.kind})'


@dataclass
class Graph:
    """Tensors, ops in topological order, graph inputs / outputs, free-form metadata."""

    name: str = 'graph'
    tensors: dict[str, Tensor] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    finalized: bool = field(default=False, compare=False)

    # ------------------------------------------------------------------ building
    def add_tensor(self, tensor: Tensor) -> Tensor:
        if tensor.name in self.tensors:
            raise GraphError(f'tensor {tensor.name!r} is defined twice')
        self.tensors[tensor.name] = tensor
        self.finalized = False
        return tensor

    def add_op(self, op: Op) -> Op:
        self.ops.append(op)
        self.finalized = False
        return op

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f'graph {self.name!r} has no tensor {name!r}') from None

    def op(self, name: str) -> Op:
        for op in self.ops:
            if op.name == name:
                return op
        raise GraphError(f'graph {self.name!r} has no op {name!r}')

    def producer(self, tensor: str) -> Optional[Op]:
        for op in self.ops:
            if tensor in op.outputs:
                return op
        return None

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.ops if tensor in op.inputs]

    # ------------------------------------------------------------------ checking
    def validate(self) -> None:
        """Raise :class:`GraphError` naming the first problem (op, tensor, what to change)."""
        names = [op.name for op in self.ops]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise GraphError(f'graph {self.name!r}: op names {dup} are used more than once')
        for t in self.inputs:
            tensor = self.tensor(t)
            if tensor.is_const:
                raise GraphError(f'graph input {t!r} is a constant')
        available = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_const}
        produced: set[str] = set()
        for op in self.ops:
            self._validate_op(op, available)
            for out in op.outputs:
                if out in produced or out in self.inputs or self.tensor(out).is_const:
                    raise GraphError(f'{op.label()}: output {out!r} is already a graph input, a constant '
                                     f'or the output of another op')
                produced.add(out)
                available.add(out)
        for t in self.outputs:
            if t not in available:
                raise GraphError(f'graph output {t!r} is produced by no op')

    def _validate_op(self, op: Op, available: set[str]) -> None:
        if op.kind not in OP_KINDS:
            raise GraphError(f'{op.label()}: unknown kind; supported: {sorted(OP_KINDS)}')
        attrs_cls, arity = OP_KINDS[op.kind]
        if not isinstance(op.attrs, attrs_cls):
            raise GraphError(f'{op.label()}: attrs must be {attrs_cls.__name__}, '
                             f'got {type(op.attrs).__name__}')
        n_in = len(op.inputs)
        optional_bias = op.kind in ('conv2d', 'depthwise_conv2d', 'fully_connected')
        if arity is None and n_in < 1 or arity is not None and not (
                n_in == arity or optional_bias and n_in == arity - 1):
            raise GraphError(f'{op.label()}: {n_in} inputs; expected {arity or "one or more"}')
        if len(op.outputs) != 1:
            raise GraphError(f'{op.label()}: {len(op.outputs)} outputs; expected 1')
        for t in op.inputs:
            if t not in self.tensors:
                raise GraphError(f'{op.label()}: input {t!r} does not exist')
            if t not in available:
                raise GraphError(f'{op.label()}: input {t!r} is used before it is produced '
                                 f'(ops must be in topological order)')
        ins = [self.tensor(t) for t in op.inputs]
        out = self.tensor(op.outputs[0])
        try:
            expected = infer_shape(op.kind, op.attrs, [t.shape for t in ins], out.shape)
        except ValueError as e:
            raise GraphError(f'{op.label()}: {e}') from None
        if tuple(expected) != out.shape:
            raise GraphError(f'{op.label()}: output {out.name!r} has shape {out.shape}; '
                             f'the inputs and attributes give {tuple(expected)}')
        self._validate_types(op, ins, out)

    def _validate_types(self, op: Op, ins: Sequence[Tensor], out: Tensor) -> None:
        x = ins[0]
        if op.kind == 'quantize':
            if x.dtype not in ('float32', 'int8') or out.dtype != 'int8':
                raise GraphError(f'{op.label()}: converts float32 or int8 to int8, '
                                 f'not {x.dtype} -> {out.dtype}')
        elif op.kind == 'dequantize':
            if x.dtype != 'int8' or out.dtype != 'float32':
                raise GraphError(f'{op.label()}: converts int8 to float32, not {x.dtype} -> {out.dtype}')
        else:
            weighted = op.kind in ('conv2d', 'depthwise_conv2d', 'fully_connected')
            for t in list(ins[:1] if weighted else ins) + [out]:
                if t.dtype != 'int8':
                    raise GraphError(f'{op.label()}: tensor {t.name!r} is {t.dtype}; activations are int8 '
                                     f'(float32 only through QUANTIZE / DEQUANTIZE at the graph boundary)')
        for t in list(ins) + [out]:
            if t.dtype == 'int8' and t.scale is None:
                raise GraphError(f'{op.label()}: int8 tensor {t.name!r} has no scale')
            if t.dtype == 'int8' and not t.per_channel and not (-128 <= t.zero_point <= 127):
                raise GraphError(f'{op.label()}: tensor {t.name!r} zero point {t.zero_point} is not int8')
        if op.kind in ('conv2d', 'depthwise_conv2d', 'fully_connected'):
            self._validate_weights(op, ins, out)
        if op.kind in SAME_QUANT_KINDS:
            for t in ins:
                if (t.scale, t.zero_point) != (out.scale, out.zero_point):
                    raise GraphError(f'{op.label()}: input {t.name!r} (scale {t.scale}, zp {t.zero_point}) '
                                     f'and output {out.name!r} (scale {out.scale}, zp {out.zero_point}) '
                                     f'must share quantization for {op.kind}')
        if op.kind == 'mean' and x.per_channel:
            raise GraphError(f'{op.label()}: input must be per-tensor quantized')

    def _validate_weights(self, op: Op, ins: Sequence[Tensor], out: Tensor) -> None:
        w = ins[1]
        channels = out.shape[-1]
        qdim = 3 if op.kind == 'depthwise_conv2d' else 0
        if not w.is_const or w.dtype != 'int8':
            raise GraphError(f'{op.label()}: weights {w.name!r} must be a constant int8 tensor')
        if w.zero_point != 0:
            raise GraphError(f'{op.label()}: weights {w.name!r} have zero point {w.zero_point}; must be 0')
        if w.per_channel and (w.scale.size != channels or w.quant_dim != qdim):
            raise GraphError(f'{op.label()}: weights {w.name!r} have {w.scale.size} scales along dim '
                             f'{w.quant_dim}; expected {channels} along dim {qdim}')
        if len(ins) == 3:
            b = ins[2]
            if not b.is_const or b.dtype != 'int32' or b.shape != (channels,):
                raise GraphError(f'{op.label()}: bias {b.name!r} must be a constant int32 '
                                 f'[{channels}] tensor')

    def finalize(self) -> Graph:
        """Validate and compute every op's integer parameters (multipliers, shifts, ranges) once."""
        from .params import compute_params  # params imports ir for type names only

        self.validate()
        for op in self.ops:
            op.params = compute_params(self, op)
        self.finalized = True
        return self

    def summary(self) -> str:
        """One line per op: kind, name, input and output shapes."""
        lines = [f'graph {self.name!r}: {len(self.ops)} ops, inputs {self.inputs}, outputs {self.outputs}']
        for i, op in enumerate(self.ops):
            shapes = [self.tensor(t).shape for t in op.inputs[:1]]
            lines.append(f'{i:3d} {op.kind:18s} {op.name:32s} {shapes} -> {self.tensor(op.outputs[0]).shape}')
        return '\n'.join(lines)
