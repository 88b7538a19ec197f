"""Fixtures for the model tests: the shared MCUNet zoo files and an independent model of the
official ``ProxylessNASNets`` (mit-han-lab/mcunet) written with torch.nn.functional only.

The official model is built from the JSON alone (never from our ArchSpec or modules), so a
converted checkpoint that reproduces its outputs proves the name mapping.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import REPO, shared_dir


@pytest.fixture(scope='session')
def zoo_dir() -> Path:
    """``<shared>/reference/mcunet_zoo``; skips the test when it is absent."""
    shared = shared_dir()
    tried = os.environ.get('MCUDET_SHARED', REPO.parent / 'shared')
    path = shared / 'reference' / 'mcunet_zoo' if shared is not None else None
    if path is None or not path.is_dir():
        pytest.skip(f'MCUNet zoo JSON files not found under {tried}; set MCUDET_SHARED=/path/to/shared')
    return path


@pytest.fixture(scope='session')
def load_zoo_json(zoo_dir: Path) -> Callable[[str], dict]:
    def load(stem: str) -> dict:
        return json.loads((zoo_dir / f'{stem}.json').read_text())
    return load


# ---------------------------------------------------------------------- official layout
def _make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _official_blocks(net: dict):
    """(index, MBInvertedConvLayer config, has shortcut) for every block of the JSON."""
    for j, block in enumerate(net['blocks']):
        yield j, block['mobile_inverted_conv'], block.get('shortcut') is not None


def _mid(conv: dict) -> int:
    return conv.get('mid_channels') or round(conv['in_channels'] * conv['expand_ratio'])


def official_state_dict(net: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the official ProxylessNASNets names, shaped from the JSON."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def conv_bn(prefix: str, c_out: int, c_in: int, k: int) -> None:
        std = (2.0 / (c_in * k * k)) ** 0.5
        sd[f'{prefix}.conv.weight'] = std * torch.randn(c_out, c_in, k, k, generator=g)
        sd[f'{prefix}.bn.weight'] = 1 + 0.2 * torch.randn(c_out, generator=g)
        sd[f'{prefix}.bn.bias'] = 0.1 * torch.randn(c_out, generator=g)
        sd[f'{prefix}.bn.running_mean'] = 0.1 * torch.randn(c_out, generator=g)
        sd[f'{prefix}.bn.running_var'] = 0.5 + torch.rand(c_out, generator=g)
        sd[f'{prefix}.bn.num_batches_tracked'] = torch.tensor(1000)

    fc = net['first_conv']
    conv_bn('first_conv', fc['out_channels'], fc['in_channels'], fc['kernel_size'])
    for j, conv, _ in _official_blocks(net):
        if conv['name'] == 'ZeroLayer':
            continue
        p, mid = f'blocks.{j}.mobile_inverted_conv', _mid(conv)
        if conv['expand_ratio'] != 1:
            conv_bn(f'{p}.inverted_bottleneck', mid, conv['in_channels'], 1)
        conv_bn(f'{p}.depth_conv', mid, 1, conv['kernel_size'])
        if conv.get('use_se'):
            se = _make_divisible(mid // 4)
            sd[f'{p}.depth_conv.se.fc.reduce.weight'] = torch.randn(se, mid, 1, 1, generator=g) / mid ** 0.5
            sd[f'{p}.depth_conv.se.fc.reduce.bias'] = 0.1 * torch.randn(se, generator=g)
            sd[f'{p}.depth_conv.se.fc.expand.weight'] = torch.randn(mid, se, 1, 1, generator=g) / se ** 0.5
            sd[f'{p}.depth_conv.se.fc.expand.bias'] = torch.randn(mid, generator=g)
        conv_bn(f'{p}.point_linear', conv['out_channels'], mid, 1)
    fm = net.get('feature_mix_layer')
    if fm:
        conv_bn('feature_mix_layer', fm['out_channels'], fm['in_channels'], fm['kernel_size'])
    cls = net['classifier']
    sd['classifier.linear.weight'] = 0.05 * torch.randn(cls['out_features'], cls['in_features'], generator=g)
    sd['classifier.linear.bias'] = 0.05 * torch.randn(cls['out_features'], generator=g)
    return sd


def official_forward(net: dict, sd: dict[str, torch.Tensor],
                     x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features before pooling, logits) of the official network in eval mode, functionally."""
    eps = net.get('bn', {}).get('eps', 1e-5)

    def act(y: torch.Tensor, name) -> torch.Tensor:
        return {'relu6': F.relu6, 'relu': F.relu, None: lambda t: t}[name](y)

    def conv_bn(prefix: str, y: torch.Tensor, stride: int, groups: int, act_name) -> torch.Tensor:
        w = sd[f'{prefix}.conv.weight']
        y = F.conv2d(y, w, None, stride, w.shape[-1] // 2, 1, groups)
        y = F.batch_norm(y, sd[f'{prefix}.bn.running_mean'], sd[f'{prefix}.bn.running_var'],
                         sd[f'{prefix}.bn.weight'], sd[f'{prefix}.bn.bias'], False, 0.0, eps)
        return act(y, act_name)

    fc = net['first_conv']
    y = conv_bn('first_conv', x, fc['stride'], 1, fc.get('act_func', 'relu6'))
    for j, conv, shortcut in _official_blocks(net):
        if conv['name'] == 'ZeroLayer':
            continue  # the official block returns its input
        p, a = f'blocks.{j}.mobile_inverted_conv', conv.get('act_func', 'relu6')
        h = y
        if conv['expand_ratio'] != 1:
            h = conv_bn(f'{p}.inverted_bottleneck', h, 1, 1, a)
        h = conv_bn(f'{p}.depth_conv', h, conv['stride'], h.shape[1], a)
        if conv.get('use_se'):
            s = h.mean(3, keepdim=True).mean(2, keepdim=True)
            fc = f'{p}.depth_conv.se.fc'
            s = F.relu(F.conv2d(s, sd[f'{fc}.reduce.weight'], sd[f'{fc}.reduce.bias']))
            s = F.conv2d(s, sd[f'{fc}.expand.weight'], sd[f'{fc}.expand.bias'])
            h = h * (F.relu6(s + 3.0) / 6.0)
        h = conv_bn(f'{p}.point_linear', h, 1, 1, None)
        y = h + y if shortcut else h
    fm = net.get('feature_mix_layer')
    if fm:
        y = conv_bn('feature_mix_layer', y, fm['stride'], 1, fm.get('act_func', 'relu6'))
    logits = F.linear(y.mean(3).mean(2), sd['classifier.linear.weight'], sd['classifier.linear.bias'])
    return y, logits


@pytest.fixture(scope='session')
def make_official_state_dict() -> Callable[..., dict]:
    return official_state_dict


@pytest.fixture(scope='session')
def run_official() -> Callable[..., tuple]:
    return official_forward
