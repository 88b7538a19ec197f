"""Recording a fake-quant forward pass as an integer graph.

While a :class:`Tracer` is active, every quantized module (:mod:`mcudet.quantization.modules`)
appends the IR ops of what it just computed to the tracer's
:class:`~mcudet.deploy.builder.GraphBuilder` and names its output tensor; the name travels
on the torch tensor, so the graph follows whatever the model's Python ``forward`` does
(residuals, concatenations, heads) without a second description of the network.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import numpy as np
import torch
from torch import nn

from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.ops import Quantize

_IR_NAME = '_mcudet_ir'
_ACTIVE: list[Tracer] = []


class TraceError(RuntimeError):
    """The model computes something the integer graph cannot express; the message names the layer."""


def active_tracer() -> Optional[Tracer]:
    return _ACTIVE[-1] if _ACTIVE else None


class Tracer:
    """Collects IR ops from quantized modules.

    Args:
        builder: The graph under construction.
        names: Qualified module names (op names); see :func:`op_name_and_group`.
        input_permutation: Channel order applied to the weights of convolutions that read
            the graph input (feeding BGR to a model trained on RGB), or None.
    """

    def __init__(self, builder: GraphBuilder, names: dict[nn.Module, str],
                 input_permutation: Optional[list[int]] = None) -> None:
        self.builder = builder
        self.names = names
        self.input_permutation = input_permutation

    @property
    def graph(self):
        return self.builder.graph

    def bind(self, t: torch.Tensor, name: str) -> torch.Tensor:
        setattr(t, _IR_NAME, name)
        return t

    def name_of(self, t: torch.Tensor, reader: nn.Module) -> str:
        name = getattr(t, _IR_NAME, None)
        if name is None:
            raise TraceError(f'{self.names.get(reader, type(reader).__name__)} reads a tensor that no '
                             'quantized module produced (an op outside the quantized model, e.g. an '
                             'unconverted layer or a functional call): convert it or add a quantized '
                             'module for it in mcudet/quantization')
        return name

    def module_name(self, module: nn.Module) -> str:
        try:
            return self.names[module]
        except KeyError:
            raise TraceError(f'{type(module).__name__} is not part of the traced model') from None

    def group(self, module: nn.Module) -> str:
        return op_group(self.module_name(module))

    def requantize(self, name: str, scale: float, zero_point: int, op_name: str, group: str) -> str:
        """``name`` itself if it already has (scale, zero_point), else a QUANTIZE (int8 -> int8) of it."""
        t = self.graph.tensor(name)
        if np.float32(t.scale) == np.float32(scale) and t.zero_point == zero_point:
            return name
        return self.builder.op('quantize', op_name, [name], Quantize(), scale, zero_point, group=group)


def op_group(name: str) -> str:
    """The unit an op belongs to: the name up to its first index (``blocks.3``, ``neck.detect.0``),
    else its first component (``stem``, ``feature_mix``, ``head``)."""
    parts = name.split('.')
    for i, p in enumerate(parts):
        if p.isdigit():
            return '.'.join(parts[:i + 1])
    return parts[0]


@contextmanager
def tracing(tracer: Tracer) -> Iterator[Tracer]:
    _ACTIVE.append(tracer)
    try:
        yield tracer
    finally:
        _ACTIVE.pop()
