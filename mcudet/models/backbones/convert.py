"""Map official MCUNet / ProxylessNAS checkpoints onto :class:`MCUNetV2Backbone` names.

The official ``ProxylessNASNets`` (mit-han-lab/mcunet, ``tinynas/nn/networks/proxyless_nets.py``)
names its parameters::

    first_conv.{conv,bn}.*                                       -> stem.{conv,bn}.*
    blocks.J.mobile_inverted_conv.inverted_bottleneck.{conv,bn}.* -> blocks.K.expand.{conv,bn}.*
    blocks.J.mobile_inverted_conv.depth_conv.{conv,bn}.*          -> blocks.K.dw.{conv,bn}.*
    blocks.J.mobile_inverted_conv.depth_conv.se.fc.{reduce,expand}.{weight,bias}
                                                                  -> blocks.K.se.{reduce,expand}.*
    blocks.J.mobile_inverted_conv.point_linear.{conv,bn}.*        -> blocks.K.project.{conv,bn}.*
    feature_mix_layer.{conv,bn}.*                                 -> feature_mix.{conv,bn}.*
    classifier.linear.{weight,bias}                               -> head: fc.{weight,bias}

``J`` counts every block of the official JSON; ``K`` counts only the blocks that are not a
``ZeroLayer`` (skip blocks have no parameters and are dropped from our spec), so ``K <= J``.
The head keys follow the OpenMMLab classification head naming (``fc``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Optional, Union

import torch

from mcudet.arch.spec import ArchSpec

_BN_OR_CONV = r'(conv\.weight|bn\.(?:weight|bias|running_mean|running_var|num_batches_tracked))'
_BLOCK_PARTS = {'inverted_bottleneck': 'expand', 'depth_conv': 'dw', 'point_linear': 'project'}
_TOP = re.compile(rf'^(first_conv|feature_mix_layer)\.{_BN_OR_CONV}$')
_BLOCK = re.compile(rf'^blocks\.(\d+)\.mobile_inverted_conv\.'
                    rf'(inverted_bottleneck|depth_conv|point_linear)\.{_BN_OR_CONV}$')
_SE = re.compile(r'^blocks\.(\d+)\.mobile_inverted_conv\.depth_conv\.se\.fc\.'
                 r'(reduce|expand)\.(weight|bias)$')
_HEAD = re.compile(r'^classifier\.linear\.(weight|bias)$')
_ANY_BLOCK = re.compile(r'^blocks\.(\d+)\.')
_MAX_LISTED = 12

SpecOrJson = Union[str, Path, dict, ArchSpec]


class CheckpointMismatchError(KeyError):
    """The checkpoint does not fit the architecture; the message lists the keys."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ''


def extract_state_dict(obj: Mapping) -> dict[str, torch.Tensor]:
    """The plain state dict of a loaded checkpoint: unwraps ``state_dict`` / ``model`` and ``module.``."""
    for key in ('state_dict', 'model'):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise TypeError('the checkpoint is not a state dict of tensors (nor a dict with one under '
                        "'state_dict' or 'model')")
    sd = dict(obj)
    if sd and all(k.startswith('module.') for k in sd):  # saved from DataParallel
        sd = {k[len('module.'):]: v for k, v in sd.items()}
    return sd


def _official_json(spec_or_json: SpecOrJson) -> Optional[dict]:
    """The ProxylessNAS dict when ``spec_or_json`` is one (or a path to one), else None."""
    from mcudet.arch.proxyless import is_proxyless_dict
    if isinstance(spec_or_json, dict):
        return spec_or_json if is_proxyless_dict(spec_or_json) else None
    if isinstance(spec_or_json, (str, Path)) and Path(spec_or_json).is_file():
        try:
            d = json.loads(Path(spec_or_json).read_text(encoding='utf-8'))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None  # load_spec reports what is wrong with the file
        return d if is_proxyless_dict(d) else None
    return None


def official_block_indices(spec_or_json: SpecOrJson, state_dict: Mapping[str, torch.Tensor]) -> list[int]:
    """Official block index ``J`` of each of our blocks ``K`` (``result[K] == J``).

    From the official JSON when given (every block whose ``mobile_inverted_conv`` is not a
    ``ZeroLayer``); otherwise from the state dict (the blocks that own parameters).
    """
    d = _official_json(spec_or_json)
    if d is not None:
        convs = [b.get('mobile_inverted_conv') if isinstance(b, dict) else None for b in d.get('blocks', [])]
        return [j for j, conv in enumerate(convs)
                if isinstance(conv, dict) and conv.get('name', 'MBInvertedConvLayer') != 'ZeroLayer']
    return sorted({int(m.group(1)) for k in state_dict if (m := _ANY_BLOCK.match(k))})


def _resolve_spec(spec_or_json: SpecOrJson) -> ArchSpec:
    from .mcunetv2 import resolve_arch
    return resolve_arch(spec_or_json)


def map_official_key(key: str, block_map: Mapping[int, int]) -> Optional[tuple[str, str]]:
    """``('backbone' | 'head', our_key)`` for an official key, or None when it has no place."""
    if m := _TOP.match(key):
        return 'backbone', f'{"stem" if m.group(1) == "first_conv" else "feature_mix"}.{m.group(2)}'
    if m := _BLOCK.match(key):
        j = int(m.group(1))
        if j in block_map:
            return 'backbone', f'blocks.{block_map[j]}.{_BLOCK_PARTS[m.group(2)]}.{m.group(3)}'
        return None
    if m := _SE.match(key):
        j = int(m.group(1))
        return ('backbone', f'blocks.{block_map[j]}.se.{m.group(2)}.{m.group(3)}') if j in block_map else None
    if m := _HEAD.match(key):
        return 'head', f'fc.{m.group(1)}'
    return None


def official_key(our_key: str, block_indices: list[int]) -> str:
    """The official name of one of our backbone keys (for error messages)."""
    parts = our_key.split('.')
    if parts[0] in ('stem', 'feature_mix'):
        top = 'first_conv' if parts[0] == 'stem' else 'feature_mix_layer'
        return '.'.join([top, *parts[1:]])
    k, part, rest = int(parts[1]), parts[2], parts[3:]
    j = block_indices[k] if k < len(block_indices) else f'?{k}'
    if part == 'se':
        return f'blocks.{j}.mobile_inverted_conv.depth_conv.se.fc.{".".join(rest)}'
    official = {v: o for o, v in _BLOCK_PARTS.items()}[part]
    return f'blocks.{j}.mobile_inverted_conv.{official}.{".".join(rest)}'


def _listing(title: str, items: list[str]) -> str:
    shown = items[:_MAX_LISTED]
    more = f'    ... and {len(items) - len(shown)} more\n' if len(items) > len(shown) else ''
    return f'  {title} ({len(items)}):\n' + ''.join(f'    {s}\n' for s in shown) + more


def convert_mcunet_state_dict(state_dict: Mapping, spec_or_json: SpecOrJson
                              ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Rename an official MCUNet / ProxylessNAS state dict for :class:`MCUNetV2Backbone`.

    Args:
        state_dict: The official checkpoint (a state dict, or a dict holding it under
            ``state_dict``; a ``module.`` prefix is removed).
        spec_or_json: The architecture: an official JSON path or dict (its ``ZeroLayer``
            blocks fix the block renumbering), a zoo name, or an ArchSpec.

    Returns:
        ``(backbone_state_dict, head_state_dict)``: the first loads into
        ``MCUNetV2Backbone(arch)`` with ``strict=True``; the second holds ``fc.weight`` /
        ``fc.bias`` (empty when the checkpoint has no classifier).

    Raises:
        CheckpointMismatchError: listing missing, unexpected and wrongly shaped keys,
            each with its official and its mcudet name.
    """
    from .mcunetv2 import MCUNetV2Backbone
    sd = extract_state_dict(state_dict)
    spec = _resolve_spec(spec_or_json)
    indices = official_block_indices(spec_or_json, sd)
    if len(indices) != len(spec.blocks):
        raise CheckpointMismatchError(
            f'architecture {spec.name!r} has {len(spec.blocks)} blocks but the '
            f'{"JSON" if _official_json(spec_or_json) is not None else "checkpoint"} has '
            f'{len(indices)} non-skip blocks ({indices}); pass the JSON the checkpoint was trained with')
    block_map = {j: k for k, j in enumerate(indices)}

    with torch.device('meta'):
        expected = MCUNetV2Backbone(spec).state_dict()
    backbone: dict[str, torch.Tensor] = {}
    head: dict[str, torch.Tensor] = {}
    unexpected, wrong = [], []
    for key, tensor in sd.items():
        target = map_official_key(key, block_map)
        if target is None or (target[0] == 'backbone' and target[1] not in expected):
            unexpected.append(key if target is None else f'{key} (would be {target[1]})')
            continue
        part, ours = target
        if part == 'head':
            head[ours] = tensor
            continue
        if tuple(tensor.shape) != tuple(expected[ours].shape):
            wrong.append(f'{key} -> {ours}: checkpoint {tuple(tensor.shape)}, '
                         f'architecture {tuple(expected[ours].shape)}')
        backbone[ours] = tensor
    missing = []
    for ours, ref in expected.items():
        if ours in backbone:
            continue
        if ours.endswith('num_batches_tracked'):  # older checkpoints predate the buffer
            backbone[ours] = torch.zeros((), dtype=ref.dtype)
        else:
            missing.append(f'{official_key(ours, indices)} (for {ours})')
    weight = head.get('fc.weight')
    if weight is not None and (weight.ndim != 2 or weight.shape[1] != spec.out_channels):
        wrong.append(f'classifier.linear.weight: checkpoint {tuple(weight.shape)}, architecture '
                     f'(num_classes, {spec.out_channels})')
    if missing or unexpected or wrong:
        report = ''.join(_listing(t, items) for t, items in (
            ('missing', missing), ('unexpected', unexpected), ('shape mismatch', wrong)) if items)
        raise CheckpointMismatchError(
            f'the checkpoint does not fit architecture {spec.name!r}:\n{report}'
            'Check that the architecture (--arch of the converter) is the JSON or zoo entry the '
            'checkpoint was trained with.')
    return {k: backbone[k] for k in expected}, head
