"""Lowering the fake-quant model to the integer graph: agreement, names, patch plans, input handling.

Agreement is measured two ways. With ``integer_eval`` (the default in eval mode) the
PyTorch model computes the int8 kernels themselves and must equal the reference executor
bit for bit. With float fake quantization (the arithmetic QAT trains with) it rounds a
float result once per layer, so it differs by one step where TFLite's fixed-point double
rounding lands the other way, and such differences propagate: the issue asks for one
step on at least 99 % of the output elements.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mcudet.arch.graph import build_units
from mcudet.arch.spec import ArchSpec, BlockSpec, ConvSpec
from mcudet.deploy import run
from mcudet.deploy.patch_exec import plan_from_graph, run_patched
from mcudet.models.backbones import MCUNetV2Backbone, PatchBasedBackbone
from mcudet.patch.plan import make_patch_plan
from mcudet.quantization import (
    calibrate,
    lower_to_ir,
    prepare_model,
    quantized_input,
    set_integer_eval,
    split_tensor,
)
from mcudet.quantization.trace import TraceError

from .conftest import CLS_CONFIG, DET_CONFIG, calibrated, diffs, int8_images, randomize_bn, shape_images

IN_QP = (float(np.float32(1 / 127.5)), 0)
SE_SPEC = ArchSpec('se-test', ConvSpec(16, 3, 2), (
    BlockSpec(16, 3, 1, 1, act='relu'),
    BlockSpec(24, 5, 4, 2, se_ratio=0.25, act='relu6'),
    BlockSpec(24, 3, 3, 1, se_ratio=0.25),
    BlockSpec(32, 3, 6, 2, se_ratio=0.25, act='relu')), resolution=64, feature_mix=ConvSpec(64, 1, 1))

BACKBONES = [('mbv2-w0.35', 96), ('mcunet-in0', 64), ('mcunetv2-vww', 80), (SE_SPEC, 64)]


def calibrated_backbone(arch, size: int, seed: int = 0) -> MCUNetV2Backbone:
    torch.manual_seed(seed)
    model = randomize_bn(MCUNetV2Backbone(arch), seed).eval()
    prepare_model(model)
    data = [quantized_input(int8_images_raw(shape_images(4, size, 10 + i)), *IN_QP) for i in range(2)]
    calibrate(model, data, 2, progress=False)
    return model


def int8_images_raw(imgs: torch.Tensor) -> torch.Tensor:
    return (imgs - 128).long()


def backbone_diffs(model, graph, q: torch.Tensor) -> np.ndarray:
    out = []
    for i in range(q.shape[0]):
        ref = run(graph, [q[i:i + 1].permute(0, 2, 3, 1).numpy().astype(np.int8)])[0]
        with torch.no_grad():
            y = model(quantized_input(q[i:i + 1], *IN_QP))[-1]
        t = graph.tensor(graph.outputs[0])
        got = (torch.round(y / t.scale) + t.zero_point).permute(0, 2, 3, 1).numpy().astype(int)
        out.append(np.abs(got - ref.astype(int)).ravel())
    return np.concatenate(out)


@pytest.fixture(scope='module', params=BACKBONES, ids=lambda p: p[0] if isinstance(p[0], str) else p[0].name)
def backbone_case(request):
    arch, size = request.param
    model = calibrated_backbone(arch, size)
    graph = lower_to_ir(model, (size, size), input_qparams=IN_QP)
    q = int8_images_raw(shape_images(3, size, seed=7))
    return model, graph, q, size


def test_backbone_integer_eval_equals_reference(backbone_case):
    model, graph, q, _ = backbone_case
    set_integer_eval(model, True)
    d = backbone_diffs(model, graph, q)
    assert d.max() == 0, f'integer-exact evaluation differs from the reference on {(d > 0).mean():.2%}'


def test_backbone_float_fake_quant_within_one_step(backbone_case):
    model, graph, q, _ = backbone_case
    set_integer_eval(model, False)
    try:
        d = backbone_diffs(model, graph, q)
    finally:
        set_integer_eval(model, True)
    within = (d <= 1).mean()
    print(f'{graph.name}: {within:.4%} within one step, {(d == 0).mean():.2%} exact, max {d.max()}')
    assert within >= 0.99


def test_backbone_ops_carry_layer_names_and_unit_groups(backbone_case):
    model, graph, _, size = backbone_case
    units = build_units(model.spec, (size, size))
    names = {op.name for op in graph.ops}
    for unit in units:
        for layer in unit.layers:
            want = f'{layer.name}.pool' if layer.kind == 'se' else layer.name
            assert want in names, f'{layer.name} missing from the graph'
        if unit.residual:
            assert f'{unit.name}.add' in names
    for op in graph.ops:
        unit = '.'.join(op.name.split('.')[:2]) if op.name.startswith('blocks.') else op.name
        assert op.group == unit, (op.name, op.group)
    assert graph.name == model.spec.name


@pytest.mark.parametrize('split,grid', [(3, 2), (5, (3, 2))])
def test_patch_plan_of_the_lowered_backbone(backbone_case, split, grid):
    """The plan traced from the graph equals make_patch_plan(spec), and patch execution is exact."""
    model, graph, q, size = backbone_case
    spec = model.spec
    if split >= len(build_units(spec, (size, size))) or any(
            ly.kind == 'se' for u in build_units(spec, (size, size))[:split] for ly in u.layers):
        pytest.skip('split past the network or into squeeze-excite')
    st = split_tensor(graph, split)
    plan = plan_from_graph(graph, st, grid)
    assert plan == make_patch_plan(spec, (size, size), grid, split)
    x = q[:1].permute(0, 2, 3, 1).numpy().astype(np.int8)
    ref = run(graph, [x])
    got = run_patched(graph, [x], plan, st)
    assert all(np.array_equal(a, b) for a, b in zip(ref, got))


def test_se_block_lowers_to_mean_conv_conv_mul():
    model = calibrated_backbone(SE_SPEC, 64)
    graph = lower_to_ir(model, (64, 64), input_qparams=IN_QP)
    ops = {op.name: op for op in graph.ops}
    assert [ops[f'blocks.1.se.{k}'].kind for k in ('pool', 'reduce', 'expand', 'scale')] == [
        'mean', 'conv2d', 'conv2d', 'mul']
    gate = graph.tensor('blocks.1.se.expand')
    assert (gate.scale, gate.zero_point) == (pytest.approx(1 / 255), -128)
    assert ops['blocks.1.se.reduce'].attrs.activation == 'relu'


# ---------------------------------------------------------------------- classifier and detector
@pytest.fixture(scope='module')
def classifier():
    model = calibrated(CLS_CONFIG, 80)
    return model, lower_to_ir(model, (80, 80))


def test_classifier_lowers_mean_and_fully_connected(classifier):
    model, graph = classifier
    assert [op.kind for op in graph.ops[-2:]] == ['mean', 'fully_connected']
    assert graph.outputs == ['head.fc'] and graph.tensor('head.fc').shape == (1, 2)
    assert graph.metadata['task'] == 'classification'
    d = diffs(model, graph, int8_images(model, shape_images(4, 80, seed=5)))
    assert d.max() == 0


@pytest.fixture(scope='module')
def detector():
    model = calibrated(DET_CONFIG, 128)
    return model, lower_to_ir(model, (128, 128))


def test_detector_outputs_are_the_three_prediction_maps(detector):
    model, graph = detector
    assert graph.outputs == [f'bbox_head.convs_pred.{i}' for i in range(3)]
    assert [graph.tensor(t).shape for t in graph.outputs] == [(1, 4, 4, 27), (1, 8, 8, 27), (1, 16, 16, 27)]
    kinds = {op.kind for op in graph.ops}
    assert {'concat', 'resize_nearest', 'add', 'depthwise_conv2d'} <= kinds
    dec = graph.metadata['yolo_decode']
    assert dec['strides'] == [32, 16, 8] and dec['num_classes'] == 4 and dec['outputs'] == graph.outputs
    assert dec['anchors'][0] == [[48.0, 48.0], [60.0, 60.0], [72.0, 72.0]]
    assert dec['nms_iou'] == 0.45 and dec['score_thr'] == 0.05
    meta = graph.metadata['input']
    assert meta['channel_order'] == 'RGB' and meta['zero_point'] == 0
    assert meta['scale'] == pytest.approx(1 / 127.5)


def test_detector_agreement(detector):
    model, graph = detector
    q = int8_images(model, shape_images(3, 128, seed=9))
    assert diffs(model, graph, q).max() == 0
    set_integer_eval(model, False)
    try:
        d = diffs(model, graph, q)
    finally:
        set_integer_eval(model, True)
    print(f'detector float fake quant: {(d <= 1).mean():.4%} within one step, {(d == 0).mean():.2%} exact')
    assert (d <= 1).mean() >= 0.99


def test_detector_patch_plan_and_patch_execution(detector):
    model, graph = detector
    spec = model.backbone.spec
    st = split_tensor(graph, 5)
    plan = plan_from_graph(graph, st, 2)
    assert plan == make_patch_plan(spec, (128, 128), 2, 5)
    x = int8_images(model, shape_images(1, 128, seed=4)).permute(0, 2, 3, 1).numpy().astype(np.int8)
    assert all(np.array_equal(a, b) for a, b in zip(run(graph, [x]), run_patched(graph, [x], plan, st)))


def test_channel_order_reorders_the_first_convolution(detector):
    model, graph = detector
    bgr = lower_to_ir(model, (128, 128), channel_order='BGR')
    assert bgr.metadata['input']['channel_order'] == 'BGR'
    x = int8_images(model, shape_images(1, 128, seed=2)).permute(0, 2, 3, 1).numpy().astype(np.int8)
    want = run(graph, [x])
    got = run(bgr, [np.ascontiguousarray(x[..., ::-1])])
    assert all(np.array_equal(a, b) for a, b in zip(want, got))


def test_lowered_graph_runs_in_tflite_micro(classifier):
    pytest.importorskip('tflite_micro')
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.tflm import run_tflm

    model, graph = classifier
    x = int8_images(model, shape_images(1, 80, seed=3)).permute(0, 2, 3, 1).numpy().astype(np.int8)
    assert np.array_equal(run(graph, [x])[0], run_tflm(write_tflite(graph), [x])[0])


# ---------------------------------------------------------------------- errors
def test_lowering_needs_a_calibrated_model():
    model = prepare_model(MCUNetV2Backbone('mbv2-w0.35').eval())
    with pytest.raises(ValueError, match='calibrate'):
        lower_to_ir(model, (64, 64), input_qparams=IN_QP)
    with pytest.raises(ValueError, match='not quantized'):
        lower_to_ir(MCUNetV2Backbone('mbv2-w0.35'), (64, 64), input_qparams=IN_QP)


def test_unconverted_functional_ops_are_named():
    model = calibrated_backbone('mbv2-w0.35', 64)

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x):
            return torch.sigmoid(model.stem(x))  # an op no quantized module owns

    w = Wrapped()
    w._mcudet_quant_prepared = True
    with pytest.raises(TraceError, match='reads a tensor that no quantized module produced|not quantized'):
        g = lower_to_ir(w, (64, 64), input_qparams=IN_QP)
        assert g is None


def test_unsupported_layers_are_refused_by_name():
    from mmcv.cnn import ConvModule

    m = torch.nn.Sequential(ConvModule(3, 8, 3, padding=1, act_cfg=dict(type='Swish')))
    with pytest.raises(TypeError, match='0: activation Swish has no int8 fusion'):
        prepare_model(m)
    with pytest.raises(TypeError, match='PatchBasedBackbone'):
        prepare_model(PatchBasedBackbone(dict(type='MCUNetV2Backbone', arch='mbv2-w0.35'), patches='2x2',
                                         split=3))
    grouped = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=2))
    with pytest.raises(TypeError, match='grouped convolution'):
        prepare_model(grouped)


def test_graph_input_is_pixel_minus_128(detector):
    model, graph = detector
    t = graph.tensor(graph.inputs[0])
    assert t.dtype == 'int8' and t.shape == (1, 128, 128, 3)
    assert (float(np.float32(t.scale)), t.zero_point) == (float(np.float32(1 / 127.5)), 0)
    assert dataclasses.asdict(graph.ops[0].attrs)['stride'] == (2, 2)


def test_lowered_detector_compiles_to_c_bit_exactly(detector, tmp_path):
    """The C generator takes the lowered graph as it is: per-patch stage, host build, reference outputs."""
    from mcudet.deploy.codegen import export

    model, graph = detector
    x = int8_images(model, shape_images(1, 128, seed=6)).permute(0, 2, 3, 1).numpy().astype(np.int8)
    ex = export(graph, tmp_path, patches=(2, 2), split=split_tensor(graph, 5), inputs=[[x]])
    assert ex.report['bitexact_vs_reference'] is True
