"""MCUNetV2Backbone: the PyTorch network of an :class:`~mcudet.arch.spec.ArchSpec`.

The module tree mirrors the spec and :func:`mcudet.arch.graph.build_units`, so every
consumer can walk it by name: ``stem`` (unit 0), ``blocks[i]`` (unit ``i + 1``) and the
optional ``feature_mix`` (last unit); each layer name of the unit graph
(``'blocks.3.expand'``, ``'blocks.3.dw'``, ``'blocks.3.se'``, ``'feature_mix'``) is the
qualified name of its module (``backbone.get_submodule(layer.name)``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mcudet.arch.graph import Unit, build_units
from mcudet.arch.spec import ArchSpec
from mcudet.registry import MODELS

from .layers import ConvBNAct, InvertedResidual

ArchLike = Union[str, Path, dict, ArchSpec]


def resolve_arch(arch: ArchLike) -> ArchSpec:
    """An ArchSpec from a zoo name, a JSON path (ours or ProxylessNAS), a dict or a spec."""
    if isinstance(arch, ArchSpec):
        return arch
    from mcudet.arch.zoo import load_spec  # lazy: the zoo reads files on first use
    return load_spec(arch)


def spec_norm_cfg(spec: ArchSpec, norm_cfg: Optional[dict]) -> dict:
    """``norm_cfg`` with the spec's BN ``eps`` / ``momentum`` filled in where it gives none.

    Official ProxylessNAS / MCUNet files carry their batch-norm settings
    (``spec.extra['bn']``: eps 1e-3 for the MobileNetV2 and ProxylessNAS files, 1e-5 for
    MCUNet); a checkpoint trained with them computes the same function only with the same
    eps. Keys given in ``norm_cfg`` win.
    """
    cfg = dict(norm_cfg) if norm_cfg is not None else dict(type='BN')
    bn = spec.extra.get('bn') or {}
    if bn.get('ws_eps') is not None:
        raise ValueError(f'ArchSpec {spec.name!r}: bn.ws_eps={bn["ws_eps"]} asks for weight '
                         'standardization, which MCUNetV2Backbone does not implement; set ws_eps to null')
    if cfg.get('type', 'BN') in ('BN', 'BN2d', 'SyncBN', 'MMSyncBN'):
        for key in ('eps', 'momentum'):
            if bn.get(key) is not None:
                cfg.setdefault(key, bn[key])
    return cfg


@MODELS.register_module()
class MCUNetV2Backbone(BaseModule):
    """An inverted-residual backbone built from an ArchSpec (MobileNetV2, ProxylessNAS, MCUNet).

    Units are numbered as in :func:`mcudet.arch.graph.build_units`: 0 is the stem,
    ``i + 1`` is ``blocks[i]``, the last is ``feature_mix`` when the spec has one. A
    patch-based schedule splits at a unit boundary and runs :meth:`forward_units` on the
    per-patch range tile by tile.

    Every conv is a :class:`~mcudet.models.backbones.layers.ConvBNAct` (children
    ``conv``/``bn``/``act``); squeeze-excite uses a hard sigmoid. The classifier of the
    spec, if any, is not part of the backbone.

    Args:
        arch: A zoo name (``'mbv2-w0.35'``, ``'mcunet-in2'``), a JSON file path (our
            format or the official ProxylessNAS format), a dict of either, or an ArchSpec.
        out_indices: Units whose outputs are returned, in network order. Negative
            indices count from the end. Default: the last unit only.
        frozen_stages: Units ``0..frozen_stages`` get ``requires_grad=False`` and stay in
            eval mode. -1 freezes nothing.
        norm_cfg: mmcv norm config. BN ``eps``/``momentum`` not given here come from
            the spec (official JSON files carry them), else PyTorch's defaults.
        norm_eval: Keep every BatchNorm in eval mode (running statistics frozen) while
            training, as for small-batch detection fine-tuning.
        init_cfg: mmengine init config. Default: Kaiming for convs, ones for norms.
    """

    def __init__(self,
                 arch: ArchLike,
                 out_indices: Optional[Sequence[int]] = None,
                 frozen_stages: int = -1,
                 norm_cfg: Optional[dict] = None,
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d'),
                        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg)
        self.spec = resolve_arch(arch)
        self.units: list[Unit] = build_units(self.spec)
        self.norm_cfg = spec_norm_cfg(self.spec, norm_cfg)
        self.norm_eval = norm_eval

        spec = self.spec
        self.stem = ConvBNAct(spec.in_channels, spec.stem.out_channels, spec.stem.kernel_size,
                              spec.stem.stride, act=spec.stem.act, norm_cfg=self.norm_cfg, where='stem')
        self.blocks = nn.ModuleList(
            InvertedResidual(c_in, b, self.norm_cfg, where=f'blocks.{i}')
            for i, (b, c_in) in enumerate(zip(spec.blocks, spec.block_in_channels())))
        self.feature_mix: Optional[ConvBNAct] = None
        if spec.feature_mix is not None:
            fm = spec.feature_mix
            self.feature_mix = ConvBNAct(spec.blocks[-1].out_channels, fm.out_channels, fm.kernel_size,
                                         fm.stride, act=fm.act, norm_cfg=self.norm_cfg,
                                         where='feature_mix')

        self.out_indices = self._check_out_indices(out_indices)
        self.out_channels = tuple(self.units[i].out_channels for i in self.out_indices)
        self.out_strides = tuple(self._cumulative_stride(i) for i in self.out_indices)
        n = self.num_units
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages < n:
            raise ValueError(f'MCUNetV2Backbone({spec.name!r}): frozen_stages={frozen_stages!r}; use -1 '
                             f'(none) up to {n - 1} (all {n} units: 0 = stem, 1..{len(spec.blocks)} = '
                             'blocks' + (', last = feature_mix)' if self.feature_mix else ')'))
        self.frozen_stages = frozen_stages
        self._freeze_stages()

    # ------------------------------------------------------------------ structure
    @property
    def num_units(self) -> int:
        return len(self.units)

    def unit_modules(self) -> list[nn.Module]:
        """The modules of the units in order: stem, blocks..., feature_mix."""
        mods: list[nn.Module] = [self.stem, *self.blocks]
        if self.feature_mix is not None:
            mods.append(self.feature_mix)
        return mods

    def units_at(self, input_hw: tuple[int, int]) -> list[Unit]:
        """The unit graph for an input of ``input_hw`` (``self.units`` is at the spec's resolution)."""
        return build_units(self.spec, input_hw)

    def _cumulative_stride(self, unit: int) -> int:
        stride = 1
        for u in self.units[:unit + 1]:
            stride *= u.stride
        return stride

    def _check_out_indices(self, out_indices: Optional[Sequence[int]]) -> tuple[int, ...]:
        n = self.num_units
        if out_indices is None:
            return (n - 1,)
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        norm = []
        for i in out_indices:
            if not isinstance(i, int) or not -n <= i < n:
                raise ValueError(f'MCUNetV2Backbone({self.spec.name!r}): out_indices contains {i!r}; '
                                 f'units are 0..{n - 1} (0 = stem, i + 1 = blocks[i]'
                                 + (f', {n - 1} = feature_mix)' if self.feature_mix else ')')
                                 + ' or negative from the end')
            norm.append(i % n)
        if len(set(norm)) != len(norm):
            raise ValueError(f'MCUNetV2Backbone({self.spec.name!r}): out_indices={tuple(out_indices)} '
                             'names a unit twice')
        return tuple(sorted(norm))

    def _unit_range(self, start: int, end: Optional[int]) -> tuple[int, int]:
        n = self.num_units
        end = n if end is None else end
        if not (0 <= start <= end <= n):
            raise ValueError(f'MCUNetV2Backbone({self.spec.name!r}): unit range [{start}, {end}) is out '
                             f'of bounds; use 0 <= start <= end <= {n}')
        return start, end

    # ------------------------------------------------------------------ forward
    def forward_units(self, x: torch.Tensor, start: int = 0, end: Optional[int] = None) -> torch.Tensor:
        """Run units ``start .. end - 1`` (slice semantics; ``end=None`` runs to the last unit)."""
        start, end = self._unit_range(start, end)
        for module in self.unit_modules()[start:end]:
            x = module(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The outputs of ``out_indices``, in network order; later units are not run."""
        outs = []
        for i, module in enumerate(self.unit_modules()[:self.out_indices[-1] + 1]):
            x = module(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    # ------------------------------------------------------------------ training mode
    def _freeze_stages(self) -> None:
        for module in self.unit_modules()[:self.frozen_stages + 1]:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> MCUNetV2Backbone:
        """Switch mode, keeping frozen units (and all BN when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
