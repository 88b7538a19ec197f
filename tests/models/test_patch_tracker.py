"""ActivationTracker: live bytes measured from the tensors of a run equal the analytic memory model.

The tracker sees the executor's actual buffers (cropped tile windows, outputs, kept residuals,
the stitched stage buffer) and the per-layer stage through module hooks; nothing it reports is
computed from the plan. Equality with :func:`mcudet.patch.memory.memory_report`, layer by layer,
therefore checks the executor's windows and the analytic model against each other.
"""
from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from mcudet.arch import build_units, load_spec, mobilenet_v2
from mcudet.models.backbones import ActivationTracker, MCUNetV2Backbone, MeasuredMemory, PatchBasedBackbone
from mcudet.models.backbones.activation_tracker import live_bytes
from mcudet.patch import MemoryReport, layer_live_bytes, memory_report
from tests.models.test_mcunetv2_backbone import se_spec
from tests.models.test_patch_based import make_backbone
from tests.patch.helpers import small_cases


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def measure(model, x: torch.Tensor) -> MeasuredMemory:
    with ActivationTracker(model) as tracker, torch.no_grad():
        model(x)
    return tracker.result()


def assert_measured_equals_analytic(m: MeasuredMemory, r: MemoryReport) -> None:
    """Every layer row, both stage peaks, the overall peaks; the classifier is not in a backbone."""
    rows = [(b, ly) for b in r.blocks if b.name != 'classifier' for ly in b.layers]
    assert m.layers == {ly.name: ly.patch_bytes for _, ly in rows}
    assert m.patch_stage_peak_bytes == r.patch_stage_peak_bytes
    assert m.layer_stage_peak_bytes == max((ly.patch_bytes for b, ly in rows if not b.per_patch), default=0)
    assert m.input_frame_bytes == r.input_frame_bytes and m.stage_output_bytes == r.stage_output_bytes
    if max(ly.patch_bytes for _, ly in rows) >= max(ly.patch_bytes for ly in r.blocks[-1].layers):
        # The classifier does not set the peak: the whole-network figures are comparable.
        assert m.layer_stage_peak_bytes == r.layer_stage_peak_bytes
        assert (m.peak_bytes, m.peak_layer) == (r.patch_peak_bytes, r.patch_peak_layer)
        assert m.peak_with_input_bytes == r.patch_peak_with_input_bytes


def test_mobilenet_v2_224_4x4_split5_paper_schedule():
    spec = mobilenet_v2(1.0, 224)
    model = PatchBasedBackbone(MCUNetV2Backbone(spec), '4x4', 5).eval()
    m = measure(model, torch.randn(1, 3, 224, 224))
    r = model.memory_report_for(224)
    assert m.peak_bytes == r.patch_peak_bytes == 175_616 and m.peak_layer == 'blocks.4.expand'
    assert m.patch_stage_peak_bytes == r.patch_stage_peak_bytes == 162_288
    assert m.peak_with_input_bytes == r.patch_peak_with_input_bytes == 312_816
    assert m.input_patch_size == r.input_patch_size == (75, 75) and m.tiles == 16
    assert m.stage_output_bytes == 32 * 28 * 28
    assert_measured_equals_analytic(m, r)


def test_mobilenet_v2_224_per_layer():
    """The plain backbone through hooks only: the paper's 1372 kB per-layer peak."""
    spec = mobilenet_v2(1.0, 224)
    m = measure(MCUNetV2Backbone(spec).eval(), torch.randn(1, 3, 224, 224))
    assert m.peak_bytes == 1372 * 1024 == 16 * 112 * 112 + 96 * 112 * 112
    assert m.peak_layer == 'blocks.1.expand' and m.tiles == 0 and m.patch_stage_peak_bytes == 0
    assert_measured_equals_analytic(m, memory_report(spec, 224))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cases())
def test_random_networks_measured_equals_analytic(case):
    spec, hw, split, grid = case
    backbone, x = make_backbone(spec, hw)
    model = PatchBasedBackbone(backbone, list(grid), split).eval()
    m = measure(model, x)  # batch of 2: bytes are per sample
    r = model.memory_report_for(hw)
    assert m.tiles == grid[0] * grid[1] and m.input_patch_size == r.input_patch_size
    assert_measured_equals_analytic(m, r)
    assert (m.peak_bytes, m.peak_with_input_bytes) == (r.patch_peak_bytes, r.patch_peak_with_input_bytes)


def test_squeeze_excite_in_the_per_layer_stage():
    """SE counts in place plus its pooled and hidden vectors, in both a patch and a per-layer run."""
    spec = se_spec()
    backbone, x = make_backbone(spec, (45, 51))
    model = PatchBasedBackbone(backbone, '2x2', 2).eval()
    m, r = measure(model, x), model.memory_report_for((45, 51))
    assert any(name.endswith('.se') for name in m.layers)
    assert_measured_equals_analytic(m, r)
    per_layer = measure(backbone, x)
    full = PatchBasedBackbone(backbone, 'auto', 'auto', budget='1MB').memory_report_for((45, 51))
    assert full.split == 0 and per_layer.peak_bytes == full.per_layer_peak_bytes
    assert_measured_equals_analytic(per_layer, full)


def test_auto_per_layer_schedule_is_measured_by_hooks():
    spec = load_spec('mcunet-in0')
    backbone, x = make_backbone(spec, (48, 48))
    model = PatchBasedBackbone(backbone, 'auto', 'auto', budget='1MB').eval()
    m = measure(model, x)
    assert m.tiles == 0 and m.peak_bytes == model.memory_report_for(48).per_layer_peak_bytes


def test_tracker_attaches_and_detaches():
    spec = load_spec('mcunet-in0')
    backbone, x = make_backbone(spec, (48, 48))
    model = PatchBasedBackbone(backbone, '2x2', 4).eval()
    tracker = ActivationTracker(model)
    with tracker, torch.no_grad():
        with pytest.raises(RuntimeError, match='already attached'):
            ActivationTracker(model).__enter__()
        model(x)
    seen = tracker.result()
    assert model._activation_tracker is None
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))  # not recorded: hooks are gone
    assert tracker.result() == seen
    tracker.reset()
    assert tracker.result().peak_bytes == 0
    with pytest.raises(TypeError):
        ActivationTracker(torch.nn.Conv2d(3, 3, 1))


@pytest.mark.parametrize('kind', ['conv', 'pw', 'dw', 'se'])
def test_buffer_accounting_mirrors_the_memory_model_convention(kind):
    """live_bytes (buffers, identity of the residual) == layer_live_bytes (formula) in every position."""
    sizes = (1, 3, 8, 20)
    for in_b, out_b, res_b, extra in itertools.product(sizes, sizes, (0, *sizes), (0, 5)):
        for first, last in ((True, False), (False, False), (False, True), (True, True)):
            res = torch.empty(1, res_b) if res_b else None
            if first and res is not None:
                if in_b > res_b:
                    continue  # a first layer reads a window of the kept unit input
                buf = res
            else:
                buf = torch.empty(1, in_b)
            expect = int(layer_live_bytes(kind, in_b, out_b, res_b, first, last, extra))
            assert live_bytes(kind, buf, torch.empty(1, out_b), res, first, last, extra) == expect, \
                (in_b, out_b, res_b, first, last)


def test_units_are_counted_per_sample():
    spec = load_spec('mcunet-in0')
    backbone, x = make_backbone(spec, (48, 48))
    model = PatchBasedBackbone(backbone, '3x3', 4).eval()
    one, two = measure(model, x[:1]), measure(model, torch.cat([x, x]))
    assert one == two and len(build_units(spec)) == model.backbone.num_units
