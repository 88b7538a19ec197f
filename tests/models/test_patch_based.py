"""PatchBasedBackbone: tile-by-tile eval equals the wrapped backbone; train mode is the backbone.

Weights are random and batch norm is calibrated on the test input (:func:`calibrate`), so every
layer's activations are O(1) and a window, pad or residual mistake shows as an O(0.1..1) error,
far above the 1e-5 bound; what remains is float32 rounding (tiles and whole maps may sum in
different orders), about 1e-6 after the deepest networks.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from mmengine.registry import DefaultScope
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mcudet.arch import ArchSpec, build_units, list_specs, load_spec
from mcudet.models.backbones import MCUNetV2Backbone, PatchBasedBackbone
from mcudet.models.backbones.patch_based import parse_budget, parse_patches
from mcudet.patch import PatchPlanError, make_patch_plan, search_schedule
from mcudet.registry import MODELS
from tests.models.test_mcunetv2_backbone import se_spec
from tests.patch.helpers import small_cases

GRIDS = ((1, 1), (2, 2), (3, 3), (4, 4), (2, 3))
ODD_HW = (97, 113)  # no grid here divides the stage outputs evenly


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: many small tile convolutions on 2 shared cores run ~10x faster so."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------ helpers (test_patch_tracker uses them)
def calibrate(backbone: MCUNetV2Backbone, x: torch.Tensor, seed: int = 0) -> MCUNetV2Backbone:
    """Batch-norm statistics from ``x`` itself, random affine; eval mode.

    Activations stay O(1) in every layer. Variances are floored at 0.25 so that no channel
    amplifies rounding noise by more than 2x per layer (nearly dead channels would by 300x).
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch gives exactly its statistics
    backbone.train()
    with torch.no_grad():
        backbone.forward_units(x)
    for m in bns:
        m.momentum = 0.1
        m.running_var.clamp_(min=0.25)
        m.weight.data = 0.5 + torch.rand(m.num_features, generator=g, dtype=m.weight.dtype)
        m.bias.data = 0.2 * torch.randn(m.num_features, generator=g, dtype=m.bias.dtype)
    return backbone.eval()


def make_backbone(spec: ArchSpec, hw: Sequence[int], out_indices=None, seed: int = 0,
                  dtype: torch.dtype = torch.float32) -> tuple[MCUNetV2Backbone, torch.Tensor]:
    """A calibrated backbone in eval mode and a batch of 2 inputs of size ``hw``."""
    torch.manual_seed(seed)
    backbone = MCUNetV2Backbone(spec, out_indices=out_indices).to(dtype)
    x = torch.randn(2, spec.in_channels, *hw, dtype=dtype)
    return calibrate(backbone, x, seed), x


def all_unit_outputs(backbone: MCUNetV2Backbone, x: torch.Tensor) -> list[torch.Tensor]:
    outs, y = [], x
    with torch.no_grad():
        for i in range(backbone.num_units):
            y = backbone.forward_units(y, i, i + 1)
            outs.append(y)
    return outs


def max_diff(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    assert len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b))
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def split_points(spec: ArchSpec, hw: Sequence[int]) -> list[int]:
    """Stem only, the last unit at stride <= 8 (the paper's choice for MobileNetV2), at stride <= 16."""
    units, stride, last = build_units(spec, hw), 1, {}
    for u in units:
        stride *= u.stride
        for s in (8, 16):
            if stride <= s:
                last[s] = u.index + 1
    return sorted({1, last.get(8, 1), last.get(16, 1)})


def fits(spec: ArchSpec, hw: Sequence[int], split: int, grid: tuple[int, int]) -> bool:
    h, w = build_units(spec, hw)[split - 1].out_hw
    return grid[0] <= h and grid[1] <= w


# ---------------------------------------------------------------------- zoo specs
@pytest.mark.parametrize('name', list_specs())
def test_zoo_spec_patch_forward_equals_backbone(name):
    """Full forward, one schedule per spec (2x3 tiles, paper-like split) at an odd input size."""
    spec = load_spec(name)
    split = split_points(spec, ODD_HW)[1]
    last = len(build_units(spec)) - 1
    backbone, x = make_backbone(spec, ODD_HW, out_indices=(split - 1, last))
    model = PatchBasedBackbone(backbone, '2x3', split).eval()
    with torch.no_grad():
        ref, out = backbone(x), model(x)
    assert max(float(r.abs().max()) for r in ref) > 0.5  # not a vanishing signal
    assert max_diff(ref, out) < 1e-5, name
    assert model.plan_for(ODD_HW).grid == (2, 3) and model.plan_for(ODD_HW).split == split


def _sweep(name: str, sizes: Sequence[tuple[int, int]]) -> None:
    spec = load_spec(name)
    for hw in sizes:
        backbone, x = make_backbone(spec, hw)
        ref = all_unit_outputs(backbone, x)
        model = PatchBasedBackbone(backbone, 1, 1).eval()
        for split in split_points(spec, hw):
            for grid in GRIDS:
                if not fits(spec, hw, split, grid):
                    continue
                plan = make_patch_plan(spec, hw, grid, split)
                with torch.no_grad():
                    stage = model.forward_patches(x, plan)
                assert max_diff([stage], [ref[split - 1]]) < 1e-5, (name, hw, split, grid)


@pytest.mark.parametrize('name', ['mbv2-w0.35', 'mcunet-in1', 'proxyless-w0.25-r112'])
def test_zoo_stage_outputs_every_grid_fast(name):
    _sweep(name, [ODD_HW])


@pytest.mark.slow
@pytest.mark.parametrize('name', list_specs())
def test_zoo_stage_outputs_every_grid_split_and_size(name):
    """Grids 1x1 .. 4x4 and 2x3, three splits, an odd size and the spec's own resolution."""
    res = load_spec(name).resolution
    _sweep(name, [ODD_HW, (res, res)])


# ---------------------------------------------------------------------- random networks
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cases())
def test_random_networks_patch_forward_equals_backbone(case):
    spec, hw, split, grid = case
    n = len(build_units(spec))
    backbone, x = make_backbone(spec, hw, out_indices=sorted({split - 1, n - 1}))
    model = PatchBasedBackbone(backbone, list(grid), split).eval()
    with torch.no_grad():
        assert max_diff(backbone(x), model(x)) < 1e-5


def test_stage_output_index_and_middle_indices():
    """out_indices at the stage output, inside the per-layer stage and at the end."""
    spec = load_spec('mcunet-in1')
    backbone, x = make_backbone(spec, (61, 75), out_indices=(4, 6, 9, 14))
    model = PatchBasedBackbone(backbone, '3x3', 5).eval()
    with torch.no_grad():
        ref, out = backbone(x), model(x)
    assert len(out) == 4 and max_diff(ref, out) < 1e-5


# ---------------------------------------------------------------------- auto schedules
def test_auto_picks_the_search_schedule():
    spec = load_spec('mbv2-w1.0')
    model = PatchBasedBackbone(dict(type='MCUNetV2Backbone', arch='mbv2-w1.0'), 'auto', 'auto',
                               budget='180kB', input_size=224)
    schedule = search_schedule(spec, 224, 180 * 1024)
    plan = model.plan_for((224, 224))
    assert plan == schedule.plan and (plan.split, plan.grid) == (5, (4, 4))
    assert model.memory_report_for(224).patch_peak_bytes == 175_616
    # input_size fixes the schedule: another size gets a plan with the same split and grid.
    other = model.plan_for((160, 192))
    assert (other.split, other.grid, other.input_hw) == (5, (4, 4), (160, 192))


def test_auto_grid_or_auto_split_alone():
    spec, hw = load_spec('mbv2-w1.0'), (224, 224)
    cands = search_schedule(spec, hw, 256 * 1024, rectangular=True).candidates
    grid_only = PatchBasedBackbone(MCUNetV2Backbone(spec), '3x3', 'auto', budget='256kB')
    best = min((c for c in cands if c.grid == (3, 3) and c.fits), key=lambda c: c.patch_macs)
    assert (grid_only.plan_for(hw).split, grid_only.plan_for(hw).grid) == (best.split, (3, 3))
    split_only = PatchBasedBackbone(MCUNetV2Backbone(spec), 'auto', 4, budget='256kB')
    assert split_only.plan_for(hw) == search_schedule(spec, hw, 256 * 1024, splits=[4]).plan
    assert split_only.plan_for(hw).split == 4


def test_auto_split_respects_out_indices():
    model = PatchBasedBackbone(MCUNetV2Backbone('mbv2-w1.0', out_indices=(3, 18)), 'auto', 'auto',
                               budget='180kB')
    plan = model.plan_for(224)
    assert plan.split <= 4  # unit 3 must come out of the stitched stage or the per-layer stage


def test_auto_forward_equals_backbone_and_per_layer_fallback():
    spec = load_spec('mcunet-in0')
    backbone, x = make_backbone(spec, (48, 48))
    model = PatchBasedBackbone(backbone, 'auto', 'auto', budget='20kB').eval()
    plan = model.plan_for((48, 48))
    assert plan == search_schedule(spec, 48, 20 * 1024).plan and plan.grid == (2, 2)
    with torch.no_grad():
        assert max_diff(backbone(x), model(x)) < 1e-5
    roomy = PatchBasedBackbone(backbone, 'auto', 'auto', budget='1MB').eval()
    assert roomy.plan_for((48, 48)) is None  # per-layer fits and recomputes nothing
    assert roomy.memory_report_for(48).split == 0
    with torch.no_grad():
        assert max_diff(backbone(x), roomy(x)) == 0


def test_plans_are_cached_per_input_size():
    model = PatchBasedBackbone(MCUNetV2Backbone('mcunet-in0'), '2x2', 4)
    assert model.plan_for((48, 48)) is model.plan_for([48, 48])
    assert model.plan_for((48, 64)).input_hw == (48, 64)
    assert model.plan_for(48) == make_patch_plan(load_spec('mcunet-in0'), 48, 2, 4)


# ---------------------------------------------------------------------- train mode
def test_train_mode_is_the_wrapped_backbone():
    spec = load_spec('mcunet-in0')
    backbone, x = make_backbone(spec, (40, 56), out_indices=(4, 15))
    twin = copy.deepcopy(backbone).train()
    model = PatchBasedBackbone(backbone, '2x2', 5).train()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, out_b = model(xa), twin(xb)
    assert all(torch.equal(a, b) for a, b in zip(out_a, out_b))
    sum(o.square().sum() for o in out_a).backward()
    sum(o.square().sum() for o in out_b).backward()
    assert torch.equal(xa.grad, xb.grad)
    for (name, p), q in zip(model.backbone.named_parameters(), twin.parameters()):
        assert torch.equal(p.grad, q.grad), name
    for (name, b), c in zip(model.backbone.named_buffers(), twin.buffers()):
        assert torch.equal(b, c), name  # the same running statistics


def test_eval_gradients_flow_through_the_tiles():
    """Autograd through the tile executor gives the whole-map gradients (same function)."""
    spec = load_spec('mcunet-in0')
    backbone, x = make_backbone(spec, (40, 56), out_indices=(15,))
    model = PatchBasedBackbone(backbone, '3x3', 5).eval()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    model(xa)[0].square().sum().backward()
    backbone(xb)[0].square().sum().backward()
    assert float((xa.grad - xb.grad).abs().max()) < 1e-5


# ---------------------------------------------------------------------- errors
def test_out_indices_before_the_split_are_refused():
    with pytest.raises(ValueError, match=r'out_indices contains 1 .*split=5'):
        PatchBasedBackbone(MCUNetV2Backbone('mbv2-w0.35', out_indices=(1, 18)), '4x4', 5)
    # The stage output itself (split - 1) is fine.
    PatchBasedBackbone(MCUNetV2Backbone('mbv2-w0.35', out_indices=(4, 18)), '4x4', 5)


def test_squeeze_excite_in_the_patch_stage_is_refused():
    with pytest.raises(PatchPlanError, match='squeeze-excite'):
        PatchBasedBackbone(MCUNetV2Backbone(se_spec()), '2x2', 3)
    # SE in the per-layer stage runs as usual.
    backbone, x = make_backbone(se_spec(), (45, 51), out_indices=(1, 5, 6))
    model = PatchBasedBackbone(backbone, '2x2', 2).eval()
    with torch.no_grad():
        assert max_diff(backbone(x), model(x)) < 1e-5


def test_bad_arguments():
    backbone = MCUNetV2Backbone('mcunet-in0')
    with pytest.raises(PatchPlanError, match='larger than the stage output'):
        PatchBasedBackbone(backbone, '8x8', 15, input_size=48)
    with pytest.raises(PatchPlanError, match='out of range'):
        PatchBasedBackbone(backbone, '2x2', 40)
    with pytest.raises(PatchPlanError, match='never proposes 1x1'):
        PatchBasedBackbone(backbone, '1x1', 'auto', input_size=48)
    with pytest.raises(PatchPlanError, match='smaller than the grid'):
        PatchBasedBackbone(backbone, '30x30', 'auto', input_size=48)
    with pytest.raises(ValueError, match='patches='):
        PatchBasedBackbone(backbone, '2by2', 4)
    with pytest.raises(ValueError, match='budget='):
        PatchBasedBackbone(backbone, 'auto', 'auto', budget='lots')
    with pytest.raises(ValueError, match='split='):
        PatchBasedBackbone(backbone, '2x2', 'five')
    with pytest.raises(TypeError, match='MCUNetV2Backbone'):
        PatchBasedBackbone(nn.Conv2d(3, 3, 3))
    model = PatchBasedBackbone(backbone, '2x2', 4).eval()
    with pytest.raises(PatchPlanError, match='does not match'):
        model.forward_patches(torch.randn(1, 3, 48, 48), make_patch_plan(load_spec('mcunet-in0'), 64, 2, 4))


def test_argument_parsing():
    assert parse_patches('4x4') == (4, 4) and parse_patches('2X3') == (2, 3)
    assert parse_patches(3) == (3, 3) and parse_patches([2, 5]) == (2, 5) and parse_patches('auto') == 'auto'
    assert parse_budget('256kB') == 262_144 and parse_budget('0.5MB') == 524_288
    assert parse_budget(1000) == 1000 and parse_budget('320 KB') == 327_680


# ---------------------------------------------------------------------- registry and checkpoints
def test_build_from_the_registry():
    with DefaultScope.overwrite_default_scope('mcudet'):
        model = MODELS.build(dict(
            type='PatchBasedBackbone',
            backbone=dict(type='MCUNetV2Backbone', arch='mcunet-in0', out_indices=(3, 15)),
            patches='2x2', split=4, input_size=48))
    assert isinstance(model, PatchBasedBackbone) and isinstance(model.backbone, MCUNetV2Backbone)
    assert model.out_indices == (3, 15) and model.out_channels == model.backbone.out_channels
    assert model.plan_for(48).grid == (2, 2)
    model.init_weights()
    out = model.eval()(torch.randn(1, 3, 48, 48))
    assert [o.shape[1] for o in out] == list(model.out_channels)


def test_plain_backbone_checkpoints_load():
    plain = MCUNetV2Backbone('mcunet-in0')
    model = PatchBasedBackbone(MCUNetV2Backbone('mcunet-in0'), '2x2', 4)
    model.load_state_dict(plain.state_dict())  # strict: every key found under backbone.
    assert all(torch.equal(a, b)
               for a, b in zip(plain.state_dict().values(), model.backbone.state_dict().values()))
    model.load_state_dict(model.state_dict())  # its own keys still load

    class Detector(nn.Module):
        def __init__(self, backbone: nn.Module) -> None:
            super().__init__()
            self.backbone, self.neck = backbone, nn.Conv2d(1, 1, 1)

    trained = Detector(MCUNetV2Backbone('mcunet-in0'))
    patched = Detector(PatchBasedBackbone(MCUNetV2Backbone('mcunet-in0'), '2x2', 4))
    patched.load_state_dict(trained.state_dict())
    assert torch.equal(patched.backbone.backbone.stem.conv.weight, trained.backbone.stem.conv.weight)
    from mmengine.runner.checkpoint import load_state_dict
    again = Detector(PatchBasedBackbone(MCUNetV2Backbone('mcunet-in0'), '2x2', 4))
    load_state_dict(again, trained.state_dict(), strict=True)
    assert torch.equal(again.backbone.backbone.blocks[3].dw.conv.weight,
                       trained.backbone.blocks[3].dw.conv.weight)
