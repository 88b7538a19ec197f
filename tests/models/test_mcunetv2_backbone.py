"""MCUNetV2Backbone: shapes, unit structure, freezing, MACs and registry construction."""
from __future__ import annotations

import pytest
import torch
from mmengine.registry import DefaultScope
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mcudet.arch import ArchSpec, BlockSpec, ConvSpec, build_units, mobilenet_v2
from mcudet.models.backbones import ConvBNAct, InvertedResidual, MCUNetV2Backbone, SqueezeExcite
from mcudet.registry import MODELS
from tests.conftest import run_tool


def se_spec() -> ArchSpec:
    """Small spec with SE, relu, explicit mid_channels, a forced no-skip block and a 3x3 feature mix."""
    blocks = (BlockSpec(8, 3, 1, 1),
              BlockSpec(16, 5, 4, 2, se_ratio=0.25),
              BlockSpec(16, 7, 3, 1, mid_channels=40, se_ratio=0.25, act='relu'),
              BlockSpec(16, 3, 6, 1, shortcut=False),
              BlockSpec(24, 3, 6, 2, se_ratio=0.25))
    return ArchSpec('se-tiny', ConvSpec(16, 3, 2), blocks, resolution=64,
                    feature_mix=ConvSpec(32, 3, 1, 'relu'))


SPECS = {'mbv2-w0.35': lambda: mobilenet_v2(0.35, 96), 'se-tiny': se_spec}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def count_conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    total = 0

    def hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        total += out[0].numel() * (m.in_channels // m.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize('name', sorted(SPECS))
@pytest.mark.parametrize('hw', [(64, 64), (97, 75)])
def test_every_unit_output_matches_the_unit_graph(name, hw):
    spec = SPECS[name]()
    n = len(build_units(spec))
    model = MCUNetV2Backbone(spec, out_indices=range(n)).eval()
    outs = model(torch.randn(2, 3, *hw))
    units = model.units_at(hw)
    assert len(outs) == n == model.num_units
    for unit, out in zip(units, outs):
        assert tuple(out.shape) == (2, unit.out_channels, *unit.out_hw), unit.name
    assert model.out_channels == tuple(u.out_channels for u in units)


@pytest.mark.parametrize('name', sorted(SPECS))
def test_modules_are_named_like_the_layers(name):
    spec = SPECS[name]()
    model = MCUNetV2Backbone(spec)
    for unit, module in zip(model.units, model.unit_modules()):
        assert model.get_submodule(unit.name) is module
        if isinstance(module, InvertedResidual):
            assert module.use_residual == unit.residual, unit.name
        for layer in unit.layers:
            m = model.get_submodule(layer.name)
            if layer.kind == 'se':
                assert isinstance(m, SqueezeExcite)
                assert (m.reduce.in_channels, m.reduce.out_channels) == (layer.in_channels, layer.se_channels)
                continue
            assert isinstance(m, ConvBNAct) and list(dict(m.named_children())) == \
                ['conv', 'bn'] + (['act'] if layer.act else [])
            conv = m.conv
            assert (conv.in_channels, conv.out_channels) == (layer.in_channels, layer.out_channels)
            assert conv.kernel_size == (layer.kernel_size,) * 2 and conv.stride == (layer.stride,) * 2
            assert conv.padding == (layer.padding,) * 2 and conv.bias is None
            assert conv.groups == (layer.in_channels if layer.kind == 'dw' else 1)
            if layer.act:
                assert isinstance(m.act, {'relu': nn.ReLU, 'relu6': nn.ReLU6}[layer.act])
    names = {n for n, _ in model.named_modules()}
    assert 'blocks.0.expand' not in names  # expand_ratio 1: no expand conv


@pytest.mark.parametrize('name', sorted(SPECS))
def test_conv_macs_equal_the_unit_graph(name):
    spec = SPECS[name]()
    model = MCUNetV2Backbone(spec).eval()
    for hw in [(spec.resolution, spec.resolution), (80, 48)]:
        expected = sum(u.macs for u in build_units(spec, hw))
        assert count_conv_macs(model, torch.randn(1, 3, *hw)) == expected


def test_forward_units_composes_to_forward():
    model = MCUNetV2Backbone(se_spec()).eval()
    x = torch.randn(1, 3, 64, 64)
    full = model(x)[-1]
    for split in range(model.num_units + 1):
        mid = model.forward_units(x, 0, split)
        torch.testing.assert_close(model.forward_units(mid, split), full)
    assert model.forward_units(x, 2, 2) is x
    for bad in [(-1, 2), (3, 2), (0, model.num_units + 1)]:
        with pytest.raises(ValueError, match='unit range'):
            model.forward_units(x, *bad)


def test_out_indices():
    spec = se_spec()  # 7 units: stem, 5 blocks, feature_mix
    model = MCUNetV2Backbone(spec)
    assert model.out_indices == (6,) and model.out_channels == (32,) and model.out_strides == (8,)
    model = MCUNetV2Backbone(spec, out_indices=(-1, 2, 0))
    assert model.out_indices == (0, 2, 6) and model.out_strides == (2, 4, 8)
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [16, 16, 32]
    for bad, msg in [((7,), 'units are 0..6'), ((1, -6), 'twice'), ((1.0,), 'out_indices')]:
        with pytest.raises(ValueError, match=msg):
            MCUNetV2Backbone(spec, out_indices=bad)


def test_forward_stops_after_the_last_requested_unit():
    model = MCUNetV2Backbone(se_spec(), out_indices=(1,))
    called = []
    model.blocks[1].register_forward_hook(lambda *a: called.append(1))
    model(torch.randn(1, 3, 32, 32))
    assert not called


def test_frozen_stages_freeze_units_and_keep_them_in_eval():
    model = MCUNetV2Backbone(mobilenet_v2(0.35, 64), frozen_stages=2)
    model.train()
    units = model.unit_modules()
    for i, unit in enumerate(units):
        frozen = i <= 2
        assert all(p.requires_grad != frozen for p in unit.parameters()), i
        assert all(m.training != frozen for m in unit.modules()), i
    stats = units[1].dw.bn.running_mean.clone()
    out = model(torch.randn(2, 3, 64, 64))[-1]
    out.sum().backward()
    torch.testing.assert_close(units[1].dw.bn.running_mean, stats)  # frozen BN: no update
    assert units[1].dw.conv.weight.grad is None and units[3].dw.conv.weight.grad is not None
    with pytest.raises(ValueError, match='frozen_stages=19'):
        MCUNetV2Backbone(mobilenet_v2(0.35, 64), frozen_stages=model.num_units)


def test_norm_eval_keeps_batch_norm_statistics():
    model = MCUNetV2Backbone(se_spec(), norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)
    assert model.training and model.blocks[1].se.training
    before = [m.running_var.clone() for m in bns]
    model(torch.randn(2, 3, 64, 64))
    for m, b in zip(bns, before):
        torch.testing.assert_close(m.running_var, b)
    model.train(False)
    assert not model.training


def test_norm_cfg_takes_bn_eps_from_the_spec_and_lets_the_config_win():
    spec = mobilenet_v2(0.35, 64)
    spec = ArchSpec(spec.name, spec.stem, spec.blocks, 64, feature_mix=spec.feature_mix,
                    extra={'bn': {'eps': 1e-3, 'momentum': 0.1, 'ws_eps': None}})
    assert MCUNetV2Backbone(spec).stem.bn.eps == 1e-3
    assert MCUNetV2Backbone(spec, norm_cfg=dict(type='BN', eps=1e-4)).blocks[0].dw.bn.eps == 1e-4
    gn = MCUNetV2Backbone(mobilenet_v2(0.35, 64), norm_cfg=dict(type='GN', num_groups=8))
    assert isinstance(gn.stem.bn, nn.GroupNorm)
    ws = ArchSpec(spec.name, spec.stem, spec.blocks, 64, extra={'bn': {'eps': 1e-3, 'ws_eps': 1e-5}})
    with pytest.raises(ValueError, match='ws_eps'):
        MCUNetV2Backbone(ws)


def test_squeeze_excite_uses_the_hard_sigmoid():
    se = SqueezeExcite(16, 8)
    x = torch.randn(2, 16, 5, 5)
    s = se.expand(torch.relu(se.reduce(x.mean((2, 3), keepdim=True))))
    torch.testing.assert_close(se(x), x * torch.clamp(s + 3, 0, 6) / 6)


def test_init_weights_and_backward():
    model = MCUNetV2Backbone(se_spec(), out_indices=(3, 6))
    model.init_weights()
    assert all(torch.all(m.weight == 1) for m in model.modules() if isinstance(m, _BatchNorm))
    outs = model(torch.randn(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_build_from_registry_with_zoo_name_and_inline_dicts():
    with DefaultScope.overwrite_default_scope('mcudet'):
        zoo = MODELS.build(dict(type='MCUNetV2Backbone', arch='mbv2-w0.35', out_indices=(4, 7)))
        inline = MODELS.build(dict(type='MCUNetV2Backbone', arch=se_spec().to_dict()))
        strings = MODELS.build(dict(type='MCUNetV2Backbone', arch=dict(
            stem='conv_k3_c16_s2', blocks=['ir_k3_e1_c8_s1', 'ir_k5_e4_c16_s2_se0.25'], resolution=64)))
    assert zoo.spec == mobilenet_v2(0.35) and zoo.out_channels == (16, 24)
    assert inline.spec == se_spec()
    assert strings.blocks[1].se is not None and strings(torch.randn(1, 3, 32, 32))[0].shape == (1, 16, 8, 8)
    from mmdet.registry import MODELS as MMDET_MODELS
    assert isinstance(MMDET_MODELS.build(dict(type='mcudet.MCUNetV2Backbone', arch='mcunet-in0')),
                      MCUNetV2Backbone)


def test_registry_location_imports_the_backbone_in_a_fresh_process():
    code = ('from mmengine.registry import init_default_scope\n'
            'from mcudet.registry import MODELS\n'
            "init_default_scope('mcudet')\n"
            "m = MODELS.build(dict(type='MCUNetV2Backbone', arch='mcunet-in2'))\n"
            'print(type(m).__module__, m.num_units)\n')
    out = run_tool(['python', '-c', code], timeout=120)
    assert out.stdout.split() == ['mcudet.models.backbones.mcunetv2', '19']


def test_unknown_arch_and_bad_activation_errors_name_the_problem():
    from mcudet.arch.spec import SpecError
    with pytest.raises(SpecError, match='mbv2-w0.36'):
        MCUNetV2Backbone('mbv2-w0.36')
    with pytest.raises(ValueError, match='stem: activation'):
        ConvBNAct(3, 8, 3, act='swish', where='stem')
