"""PatchBasedBackbone: MCUNetV2's patch-based inference around any :class:`MCUNetV2Backbone`.

In eval mode the first ``split`` units run tile by tile on a grid of the stage output,
following the :class:`~mcudet.patch.plan.PatchPlan` that :func:`~mcudet.patch.plan.make_patch_plan`
gives: the same object the analytic memory model (:func:`~mcudet.patch.memory.memory_report`)
and the C code generator read, so the windows executed here are the windows budgeted
there. Per tile and layer the executor crops the plan's input window, adds the plan's
zeros (only where the window touches the border of the feature map: inside the image the
halo comes from the window itself), runs a 'valid' convolution with the module's weights,
batch norm with its running statistics (an affine in eval mode) and the activation, adds
the residual window, and writes the tile into the stitched stage output. The remaining
units run layer by layer on whole maps (:meth:`MCUNetV2Backbone.forward_units`).
Only one tile's activations are alive at a time.

Because every tile sees exactly the input pixels and zeros that the whole-map
convolution sees, the result equals the wrapped backbone's up to float summation order
(tests/models/test_patch_based.py checks every zoo spec and random networks).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mcudet.patch.memory import MemoryReport, memory_report
from mcudet.patch.plan import PatchPlan, make_patch_plan, normalize_grid, normalize_input_hw
from mcudet.patch.receptive import PatchPlanError, check_split
from mcudet.patch.search import _key_fit, _key_nofit, search_schedule, sweep
from mcudet.registry import MODELS, build_model

from .mcunetv2 import MCUNetV2Backbone

_BUDGET_UNITS = {'': 1, 'b': 1, 'kb': 1024, 'k': 1024, 'kib': 1024, 'mb': 1024 ** 2, 'm': 1024 ** 2,
                 'mib': 1024 ** 2}


def parse_budget(budget: Union[int, str]) -> int:
    """``262144`` or ``'256kB'`` (kB = 1024 bytes, as in the paper) -> bytes."""
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
        return budget
    if isinstance(budget, str):
        m = re.fullmatch(r'\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*', budget)
        if m and m.group(2).lower() in _BUDGET_UNITS:
            value = int(float(m.group(1)) * _BUDGET_UNITS[m.group(2).lower()])
            if value > 0:
                return value
    raise ValueError(f'budget={budget!r}; give a positive number of bytes or a string such as '
                     "'256kB' or '0.5MB' (kB = 1024 bytes)")


def parse_patches(patches: Union[str, int, Sequence[int]]) -> Union[str, tuple[int, int]]:
    """``'auto'``, ``'4x4'`` / ``'2x3'`` (rows x cols), ``4`` or ``[2, 3]`` -> 'auto' or (rows, cols)."""
    if isinstance(patches, str):
        text = patches.strip().lower()
        if text == 'auto':
            return 'auto'
        m = re.fullmatch(r'(\d+)\s*x\s*(\d+)', text)
        if m is None:
            raise ValueError(f"patches={patches!r}; use 'auto', 'NxM' (N rows by M columns of tiles), "
                             'an int n or a pair [n, m]')
        patches = (int(m.group(1)), int(m.group(2)))
    try:
        return normalize_grid(tuple(patches) if not isinstance(patches, int) else patches)
    except (PatchPlanError, TypeError) as e:
        raise ValueError(f'patches={patches!r}: {e}') from None


@MODELS.register_module()
class PatchBasedBackbone(BaseModule):
    """Run the first units of an MCUNetV2 backbone patch by patch at inference (MCUNetV2).

    Eval mode executes the :class:`~mcudet.patch.plan.PatchPlan` of this input size tile by
    tile (see the module docstring), then the rest of the network layer by layer, and returns
    the wrapped backbone's ``out_indices`` features. Train mode is the wrapped backbone,
    unchanged: the patch schedule is an inference-time rewrite that computes the same
    function, so there is nothing to gain from it in training and something to lose.
    Batch norm in training normalises with statistics of the whole batch of whole maps;
    per-tile statistics would be a different (and tile-dependent) model. Training memory is
    the GPU's, not the microcontroller's. In eval the math is identical to the wrapped
    backbone, so weights trained through this module (or through the plain backbone) are
    the weights the patch schedule runs, and gradients are exactly the backbone's.

    State dicts: parameters live under ``backbone.``; a checkpoint of the plain backbone (or
    of a detector built with it) loads as it is, the missing prefix is added on load.

    Args:
        backbone: An :class:`MCUNetV2Backbone` or its config, e.g.
            ``dict(type='MCUNetV2Backbone', arch='mcunet-in2', out_indices=(8, 17))``.
        patches: Tile grid over the stage output: ``'NxM'`` (N rows, M columns), ``n``,
            ``[n, m]``, or ``'auto'`` for the schedule search's choice.
        split: Units ``0 .. split - 1`` run per patch (0 = stem, ``i + 1`` = ``blocks[i]``),
            or ``'auto'``. Every ``out_indices`` entry must be at least ``split - 1``; an
            'auto' split only considers such splits.
        budget: SRAM budget for ``'auto'``: bytes, or a string like ``'256kB'``. Among the
            schedules whose analytic peak fits, the search takes the one with the fewest MACs
            (see :mod:`mcudet.patch.search`); it may be the per-layer schedule (no patches).
        input_size: (h, w) (or one int) to plan for now: errors surface at construction,
            and an 'auto' schedule is searched once at this size and kept for every size.
            Without it, plans (and 'auto' searches) are made per input size at run time and
            cached by (h, w).
        init_cfg: mmengine init config of the wrapper (the backbone keeps its own).
    """

    def __init__(self,
                 backbone: Union[dict, MCUNetV2Backbone],
                 patches: Union[str, int, Sequence[int]] = 'auto',
                 split: Union[str, int] = 'auto',
                 budget: Union[int, str] = '256kB',
                 input_size: Union[None, int, Sequence[int]] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg)
        if isinstance(backbone, dict):
            backbone = build_model(backbone)
        if not isinstance(backbone, MCUNetV2Backbone):
            raise TypeError(f'PatchBasedBackbone wraps an MCUNetV2Backbone (or its config dict), '
                            f'got {type(backbone).__name__}')
        self.backbone = backbone
        self.spec = backbone.spec
        self.out_indices = backbone.out_indices
        self.out_channels = backbone.out_channels
        self.out_strides = backbone.out_strides
        self.patches = parse_patches(patches)
        if not (split == 'auto' or (isinstance(split, int) and not isinstance(split, bool))):
            raise ValueError(f"split={split!r}; give 'auto' or the number of units run per patch")
        self.split = split
        self.budget_bytes = parse_budget(budget)
        self._where = f'PatchBasedBackbone({self.spec.name!r})'
        self._check_layer_modules()
        if isinstance(split, int):
            try:
                check_split(backbone.units, split, self.spec.name)
            except PatchPlanError as e:
                raise PatchPlanError(f'{self._where}: {e}') from None
            self._check_out_indices(split)
        self._plans: dict[tuple[int, int], Optional[PatchPlan]] = {}
        self.input_size: Optional[tuple[int, int]] = None
        self._fixed: Optional[tuple[int, Optional[tuple[int, int]]]] = None  # (split, grid) from input_size
        self._activation_tracker: Any = None  # set by ActivationTracker while it measures
        if input_size is not None:
            self.input_size = normalize_input_hw(self.spec, input_size)
            plan = self.plan_for(self.input_size)
            self._fixed = (plan.split, plan.grid) if plan is not None else (0, None)
        self.register_load_state_dict_pre_hook(_accept_plain_backbone_keys)

    # ------------------------------------------------------------------ schedule
    def plan_for(self, hw: Union[int, Sequence[int]]) -> Optional[PatchPlan]:
        """The PatchPlan executed for an input of ``hw``; None when the schedule is per-layer.

        Made with :func:`make_patch_plan` (or found by :func:`search_schedule` for 'auto')
        on first use and cached by (h, w).
        """
        hw = normalize_input_hw(self.spec, hw if isinstance(hw, int) else tuple(hw))
        if hw not in self._plans:
            try:
                plan = self._make_plan(hw)
            except PatchPlanError as e:
                raise PatchPlanError(f'{self._where} at input {hw[0]}x{hw[1]}: {e}') from None
            if plan is not None:
                self._check_out_indices(plan.split)
            self._plans[hw] = plan
        return self._plans[hw]

    def memory_report_for(self, hw: Union[int, Sequence[int]]) -> MemoryReport:
        """The analytic memory and MAC report of the schedule run at ``hw`` (per-layer if no plan)."""
        hw = normalize_input_hw(self.spec, hw if isinstance(hw, int) else tuple(hw))
        return memory_report(self.spec, hw, self.plan_for(hw))

    def _make_plan(self, hw: tuple[int, int]) -> Optional[PatchPlan]:
        if self._fixed is not None:
            split, grid = self._fixed
            return make_patch_plan(self.spec, hw, grid, split) if split else None
        if self.patches != 'auto' and self.split != 'auto':
            return make_patch_plan(self.spec, hw, self.patches, self.split)
        # An 'auto' split never goes past the earliest requested feature.
        splits = [self.split] if self.split != 'auto' else range(1, min(self.out_indices) + 2)
        if self.patches == 'auto':
            return search_schedule(self.spec, hw, self.budget_bytes, splits=splits).plan
        grid = self.patches
        results = [r for r in sweep(self.spec, hw, self.budget_bytes, max_grid=max(grid), splits=splits,
                                    rectangular=grid[0] != grid[1]) if r[0].grid == grid]
        if not results:
            why = ('the search never proposes 1x1 (it costs the stage buffer and saves nothing); give '
                   'split explicitly' if grid == (1, 1) else 'every stage output is smaller than the grid; '
                   'use fewer patches')
            raise PatchPlanError(f'no split up to {max(splits)} runs on a {grid[0]}x{grid[1]} grid: {why}')
        fitting = [r for r in results if r[0].fits]
        return (min(fitting, key=lambda r: _key_fit(r[0])) if fitting
                else min(results, key=lambda r: _key_nofit(r[0])))[1]

    def _check_out_indices(self, split: int) -> None:
        early = [i for i in self.out_indices if i < split - 1]
        if early:
            unit = self.backbone.units[early[0]].name
            raise ValueError(
                f'{self._where}: out_indices contains {early[0]} ({unit}), but with split={split} units '
                f'0..{split - 1} run per patch and only the stage output (unit {split - 1}) is ever '
                f'stitched together; use split <= {early[0] + 1} or drop index {early[0]} from out_indices')

    def _check_layer_modules(self) -> None:
        """The executor calls the convolutions itself: they must be what the planner assumes."""
        for unit in self.backbone.units:
            for layer in unit.layers:
                if layer.kind == 'se':
                    continue
                conv = getattr(self.backbone.get_submodule(layer.name), 'conv', None)
                k, s = layer.kernel_size, layer.stride
                if not (isinstance(conv, nn.Conv2d) and conv.kernel_size == (k, k) and conv.stride == (s, s)
                        and conv.padding == (k // 2, k // 2) and conv.dilation == (1, 1)
                        and conv.padding_mode == 'zeros'):
                    raise TypeError(f'{self._where}: {layer.name}.conv is not the {k}x{k} stride-{s} '
                                    f'convolution with zero padding {k // 2} that the patch planner assumes')

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The wrapped backbone's ``out_indices`` features; patch by patch in eval mode."""
        if self.training:
            return self.backbone(x)
        plan = self.plan_for(tuple(x.shape[-2:]))
        if plan is None:  # the search chose the per-layer schedule
            return self.backbone(x)
        y = self.forward_patches(x, plan)
        outs = [y] if plan.split - 1 in self.out_indices else []
        for i in range(plan.split, self.out_indices[-1] + 1):
            y = self.backbone.forward_units(y, i, i + 1)
            if i in self.out_indices:
                outs.append(y)
        return tuple(outs)

    def forward_patches(self, x: torch.Tensor, plan: Optional[PatchPlan] = None) -> torch.Tensor:
        """Run the per-patch stage of ``plan`` (default: :meth:`plan_for` of ``x``) tile by tile.

        Returns the stitched output of unit ``plan.split - 1``; equal to
        ``backbone.forward_units(x, 0, plan.split)`` with the backbone in eval mode.
        """
        hw = (int(x.shape[-2]), int(x.shape[-1]))
        plan = self.plan_for(hw) if plan is None else plan
        if plan is None:
            raise PatchPlanError(f'{self._where}: the schedule at {hw} is per-layer; there is no patch stage')
        units = self.backbone.units
        if (plan.spec_name != self.spec.name or plan.input_hw != hw
                or plan.unit_names != tuple(u.name for u in units[:plan.split])):
            raise PatchPlanError(f'{self._where}: plan for {plan.spec_name!r} at {plan.input_hw} does not '
                                 f'match this backbone at input {hw}; make it with '
                                 f'make_patch_plan(spec, {hw}, ...) or use plan_for')
        modules = {ly.name: self.backbone.get_submodule(ly.name)
                   for u in units[:plan.split] for ly in u.layers}
        n = x.shape[0]
        stage_out = x.new_empty((n, plan.stage_out_channels, *plan.stage_out_hw))
        tracker = self._activation_tracker
        if tracker is not None:
            tracker.patch_stage_begin(x, stage_out)
        for index, tile in enumerate(plan.tiles):
            origin = tile.input_window
            h = x[(..., *origin.slices())]  # the input patch (streamed from the sensor on an MCU)
            for uw in tile.units:
                unit_in, unit_origin = h, origin
                residual = unit_in if uw.residual_window is not None else None
                last = len(uw.layers) - 1
                for k, lw in enumerate(uw.layers):
                    out = _run_conv_layer(modules[lw.name], h[(..., *lw.in_window.slices(origin))], lw.pads,
                                          f'{self._where}: {lw.name}')
                    if tracker is not None:
                        tracker.patch_layer(index, uw.index, lw.name, lw.kind, h, out, residual,
                                            k == 0, k == last)
                    h, origin = out, lw.out_window
                if residual is not None:
                    h = h + unit_in[(..., *uw.residual_window.slices(unit_origin))]
            stage_out[(..., *tile.out_window.slices())] = h
        if tracker is not None:
            tracker.patch_stage_end()
        return stage_out


def _run_conv_layer(module: nn.Module, x: torch.Tensor, pads: tuple[int, int, int, int],
                    where: str) -> torch.Tensor:
    """One ConvBNAct on a cropped window: border zeros, 'valid' conv, BN as an affine, activation."""
    conv, bn = module.conv, module.bn
    top, bottom, left, right = pads
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom))  # what nn.Conv2d's zero padding adds at the border
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
    if not isinstance(bn, _BatchNorm) or bn.running_mean is None or bn.running_var is None:
        raise TypeError(f'{where}: patch-based inference needs batch norm with running statistics (an '
                        f'affine in eval mode), got {type(bn).__name__}; a norm over the spatial map is not '
                        f'tile-local')
    y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    act = getattr(module, 'act', None)
    return act(y) if act is not None else y


def _accept_plain_backbone_keys(module: PatchBasedBackbone, state_dict: dict, prefix: str, *args) -> None:
    """Load a checkpoint of the plain backbone (or of a model built with it): add ``backbone.``."""
    own = prefix + 'backbone.'
    if any(key.startswith(own) for key in state_dict):
        return
    for key in [k for k in state_dict if k.startswith(prefix)]:
        state_dict[own + key[len(prefix):]] = state_dict.pop(key)
