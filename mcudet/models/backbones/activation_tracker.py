"""Measure the live int8 activation bytes of a backbone run, from the tensors it actually holds.

:class:`ActivationTracker` watches one forward pass of a :class:`PatchBasedBackbone` (or a plain
:class:`MCUNetV2Backbone`): the patch executor reports every layer of every tile with the
buffers it holds (the tile's input window, the layer's output, the unit input kept for the
residual add, the stitched stage-output buffer), and forward hooks on the backbone's modules
report the layers of the per-layer stage. Sizes are element counts of those tensors per
sample (int8: one byte per element), never numbers recomputed from the plan, so comparing the
result with :func:`mcudet.patch.memory.memory_report` checks the executor and the analytic
model against each other.

Accounting: the buffers alive while a layer runs, each counted once
(the convention of :mod:`mcudet.patch.memory` and ``design/figures.md``, restated in buffers):

* a layer holds the buffer it reads and the buffer it writes. The buffer read is the tensor
  the tile holds, not the padded copy: pads are virtual (the kernel supplies the zeros), and
  a crop is a view into the held buffer;
* a residual unit keeps its input buffer R alive until the add. The unit's first layer reads
  from R itself, so R is not counted twice;
* depthwise convolution and SE's channel scaling run in place, the output overwriting the
  input (``max(in, out)``), except when the input is R, which the add still needs;
* subtlety mirrored from memory.py: the last layer of a residual unit (the 1x1 project)
  accumulates into R (TinyEngine's fused add), so it costs ``in + max(out, R)``, not
  ``in + out + R``;
* SE also holds its pooled vector and its hidden vector;
* per-patch stage: the full stage-output buffer is alive throughout, and the stage's last
  layer is counted with its own tile output besides (as the paper's formula does);
* the input frame is streamed (not counted; the tile's input window is). ``peak_with_input``
  keeps the frame resident through the per-patch stage, the stem reading its window from it
  in place, as ``patch_peak_with_input_bytes`` does.

The classifier is not part of the backbone, so it is not measured; the analytic per-layer
stage includes it (it rarely sets the peak).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Optional, Union

import torch
from torch import nn

from mcudet.arch.graph import Layer, Unit

from .mcunetv2 import MCUNetV2Backbone
from .patch_based import PatchBasedBackbone


def _per_sample(t: torch.Tensor) -> int:
    """int8 bytes of one sample of an NCHW (or NC...) tensor."""
    return t.numel() // t.shape[0]


def live_bytes(kind: str, in_buf: torch.Tensor, out: torch.Tensor, residual: Optional[torch.Tensor],
               first: bool, last: bool, extra: int = 0, in_bytes: Optional[int] = None) -> int:
    """Bytes of the distinct buffers alive while one layer runs (see the module docstring).

    Args:
        kind: 'conv', 'pw', 'dw' or 'se'.
        in_buf: The buffer the layer reads from (the held tensor, before cropping and padding).
        out: The layer's output.
        residual: The unit input kept for the add (None without a residual).
        first, last: Position of the layer in its unit.
        extra: Side buffers (SE's pooled and hidden vectors).
        in_bytes: Override the input buffer's size (0 when it is read in place from the frame).
    """
    in_b = _per_sample(in_buf) if in_bytes is None else in_bytes
    out_b = _per_sample(out)
    res_b = _per_sample(residual) if residual is not None else 0
    reads_residual = residual is not None and in_buf is residual
    if kind in ('dw', 'se') and not reads_residual:
        return max(in_b, out_b) + res_b + extra  # in place
    if last and not first and residual is not None:
        return in_b + max(out_b, res_b) + extra  # fused add: the output accumulates into R
    return (0 if reads_residual else in_b) + res_b + out_b + extra


@dataclass(frozen=True)
class MeasuredMemory:
    """Measured peaks of the runs a tracker saw (bytes, int8, per sample).

    Fields mirror :class:`mcudet.patch.memory.MemoryReport`: ``peak_bytes`` is
    ``patch_peak_bytes``, ``patch_stage_peak_bytes`` and ``layer_stage_peak_bytes`` the two
    stages, ``peak_with_input_bytes`` the frame-resident variant. ``layers`` maps each layer
    name to its worst live bytes (per-patch layers include the stage-output buffer, like the
    report's ``patch_bytes``). ``input_patch_size`` is the largest tile input window seen.
    """

    peak_bytes: int
    peak_layer: str
    patch_stage_peak_bytes: int
    layer_stage_peak_bytes: int
    peak_with_input_bytes: int
    stage_output_bytes: int
    input_frame_bytes: int
    input_patch_size: tuple[int, int]
    tiles: int
    layers: dict[str, int] = field(default_factory=dict)


class ActivationTracker:
    """Context manager that measures live activation bytes during forward passes.

    Example::

        model = PatchBasedBackbone(dict(type='MCUNetV2Backbone', arch='mbv2-w1.0'), '4x4', 5).eval()
        with ActivationTracker(model) as tracker:
            model(torch.randn(1, 3, 224, 224))
        tracker.result().peak_bytes  # 175,616 bytes, as memory_report says

    Args:
        model: A :class:`PatchBasedBackbone` (per-patch stage reported by its executor,
            per-layer stage by hooks) or an :class:`MCUNetV2Backbone` (hooks only).
    """

    def __init__(self, model: Union[PatchBasedBackbone, MCUNetV2Backbone]) -> None:
        if isinstance(model, PatchBasedBackbone):
            self.patch_model: Optional[PatchBasedBackbone] = model
            self.backbone = model.backbone
        elif isinstance(model, MCUNetV2Backbone):
            self.patch_model, self.backbone = None, model
        else:
            raise TypeError(f'ActivationTracker measures a PatchBasedBackbone or an MCUNetV2Backbone, '
                            f'got {type(model).__name__}')
        self._handles: list[Any] = []
        self.reset()

    def reset(self) -> None:
        """Forget everything measured so far."""
        self.patch_layers: dict[str, int] = {}   # name -> worst tile live bytes + stage buffer
        self.frame_layers: dict[str, int] = {}   # the same with the frame resident (+ frame)
        self.layer_layers: dict[str, int] = {}   # per-layer stage: name -> live bytes
        self.frame_bytes = 0
        self.stage_bytes = 0
        self.input_patch = (0, 0)
        self.tiles: set[int] = set()
        self._frame: Optional[torch.Tensor] = None
        self._stage: Optional[torch.Tensor] = None
        self._residual: Optional[torch.Tensor] = None
        self._se_extra = 0

    # ------------------------------------------------------------------ attach / detach
    def __enter__(self) -> ActivationTracker:
        if self.patch_model is not None:
            if self.patch_model._activation_tracker is not None:
                raise RuntimeError('another ActivationTracker is already attached to this model')
            self.patch_model._activation_tracker = self
        for unit, module in zip(self.backbone.units, self.backbone.unit_modules()):
            self._handles.append(module.register_forward_pre_hook(partial(self._unit_pre_hook, unit)))
            for k, layer in enumerate(unit.layers):
                m = self.backbone.get_submodule(layer.name)
                self._handles.append(m.register_forward_hook(partial(self._layer_hook, unit, k, layer)))
                if layer.kind == 'se':
                    self._handles.append(m.reduce.register_forward_hook(self._se_reduce_hook))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self.patch_model is not None:
            self.patch_model._activation_tracker = None

    # ------------------------------------------------------------------ per-patch stage (executor)
    def patch_stage_begin(self, frame: torch.Tensor, stage_out: torch.Tensor) -> None:
        """The executor starts a per-patch stage on ``frame``, stitching into ``stage_out``."""
        self._frame, self._stage = frame, stage_out
        self.frame_bytes = max(self.frame_bytes, _per_sample(frame))
        self.stage_bytes = max(self.stage_bytes, _per_sample(stage_out))

    def patch_layer(self, tile: int, unit: int, name: str, kind: str, in_buf: torch.Tensor,
                    out: torch.Tensor, residual: Optional[torch.Tensor], first: bool, last: bool) -> None:
        """One layer of one tile ran: ``in_buf`` is the buffer the tile held (before cropping)."""
        buf = _per_sample(self._stage)
        live = live_bytes(kind, in_buf, out, residual, first, last)
        from_frame = unit == 0 and first  # with the frame resident the stem reads its window in place
        live_frame = live_bytes(kind, in_buf, out, residual, first, last, in_bytes=0) if from_frame else live
        self.patch_layers[name] = max(self.patch_layers.get(name, 0), live + buf)
        self.frame_layers[name] = max(self.frame_layers.get(name, 0),
                                      live_frame + buf + _per_sample(self._frame))
        if from_frame:
            self.input_patch = (max(self.input_patch[0], in_buf.shape[-2]),
                                max(self.input_patch[1], in_buf.shape[-1]))
        self.tiles.add(tile)

    def patch_stage_end(self) -> None:
        self._frame = self._stage = None

    # ------------------------------------------------------------------ per-layer stage (hooks)
    def _unit_pre_hook(self, unit: Unit, module: nn.Module, args: tuple) -> None:
        x = args[0]
        self._residual = x if unit.residual else None
        if unit.index == 0:
            self.frame_bytes = max(self.frame_bytes, _per_sample(x))

    def _se_reduce_hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        self._se_extra = _per_sample(args[0]) + _per_sample(output)  # pooled + hidden vectors

    def _layer_hook(self, unit: Unit, k: int, layer: Layer, module: nn.Module, args: tuple,
                    output: torch.Tensor) -> None:
        extra = self._se_extra if layer.kind == 'se' else 0
        live = live_bytes(layer.kind, args[0], output, self._residual, k == 0, k == len(unit.layers) - 1,
                          extra)
        self.layer_layers[layer.name] = max(self.layer_layers.get(layer.name, 0), live)

    # ------------------------------------------------------------------ result
    def result(self) -> MeasuredMemory:
        """The peaks measured since the tracker was created (or :meth:`reset`)."""
        order = [ly.name for unit in self.backbone.units for ly in unit.layers]  # ties: earliest layer

        def best(rows: dict[str, int]) -> tuple[int, str]:
            top, name = 0, ''
            for n in order:
                if rows.get(n, -1) > top:
                    top, name = rows[n], n
            return top, name

        stage, _ = best(self.patch_layers)
        stage_frame, _ = best(self.frame_layers)
        layer, _ = best(self.layer_layers)
        rows = {n: max(self.patch_layers.get(n, 0), self.layer_layers.get(n, 0)) for n in order
                if n in self.patch_layers or n in self.layer_layers}
        peak, name = best(rows)
        return MeasuredMemory(peak, name, stage, layer, max(stage_frame, layer), self.stage_bytes,
                              self.frame_bytes, self.input_patch, len(self.tiles), rows)
