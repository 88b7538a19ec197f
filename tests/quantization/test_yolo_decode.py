"""The decode outside the integer graph: the NumPy reference equals mmdet's YOLOV3Head.predict_by_feat."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mcudet.deploy import run
from mcudet.deploy.yolo import YoloConfig, config_of
from mcudet.quantization import YoloDecodeSpec, decode_yolo, lower_to_ir

from .conftest import DET_CONFIG, calibrated, int8_images, shape_images


@pytest.fixture(scope='module')
def lowered():
    model = calibrated(DET_CONFIG, 128, seed=3)
    return model, lower_to_ir(model, (128, 128))


def _mmdet(model, spec: YoloDecodeSpec, maps):
    preds = []
    for q, s, zp in zip(maps, spec.output_scales, spec.output_zero_points):
        t = (torch.from_numpy(q.astype(np.float32)) - zp) * torch.tensor(s, dtype=torch.float32)
        preds.append(t.permute(0, 3, 1, 2))
    meta = dict(img_shape=(128, 128), ori_shape=(128, 128), scale_factor=(1.0, 1.0))
    res = model.bbox_head.predict_by_feat(preds, [meta], rescale=False)[0]
    return res.bboxes.numpy(), res.scores.numpy(), res.labels.numpy()


def _sparse_maps(spec: YoloDecodeSpec, rng: np.random.Generator, per_level: int = 12) -> list[np.ndarray]:
    """Prediction maps (scale 0.1, zero point 0) with a few confident cells: distinct scores, no ties."""
    k = spec.num_classes + 5
    maps = []
    for stride, anchors in zip(spec.strides, spec.anchors):
        n = 128 // stride
        m = rng.integers(-30, 31, size=(1, n, n, len(anchors), k))
        m[..., 4] = -128  # objectness sigmoid(-12.8): below conf_thr
        m[..., 5:] = rng.integers(-128, -40, size=m[..., 5:].shape)
        for _ in range(per_level):
            i, j, a = rng.integers(n), rng.integers(n), rng.integers(len(anchors))
            m[0, i, j, a, 4] = rng.integers(0, 60)
            m[0, i, j, a, 5 + rng.integers(spec.num_classes)] = rng.integers(-10, 60)
        maps.append(m.reshape(1, n, n, -1).astype(np.int8))
    return maps


def _canonical(boxes, scores, labels):
    """Equal scores may come out in either order: sort by (score, x1)."""
    order = np.lexsort((np.round(boxes[:, 0], 2), -np.round(scores, 5)))
    return boxes[order], scores[order], labels[order]


def test_decode_matches_mmdet(lowered):
    model, graph = lowered
    spec = YoloDecodeSpec.from_dict(graph.metadata['yolo_decode'])
    spec = dataclasses.replace(spec, output_scales=(0.1,) * 3, output_zero_points=(0,) * 3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        maps = _sparse_maps(spec, rng)
        boxes, scores, labels = _canonical(*decode_yolo(spec, maps))
        want_boxes, want_scores, want_labels = _canonical(*_mmdet(model, spec, maps))
        assert len(scores) == len(want_scores) > 0
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
        np.testing.assert_allclose(boxes, want_boxes, rtol=1e-5, atol=1e-3)
        assert np.array_equal(labels, want_labels)


def test_decode_of_the_lowered_detector_runs(lowered):
    model, graph = lowered
    spec = YoloDecodeSpec.from_dict(graph.metadata['yolo_decode'])
    x = int8_images(model, shape_images(1, 128, seed=20)).permute(0, 2, 3, 1).numpy().astype(np.int8)
    boxes, scores, labels = decode_yolo(spec, run(graph, [x]))
    assert boxes.shape == (len(scores), 4) and len(scores) <= spec.max_per_img
    assert np.all(np.diff(scores) <= 0) and np.all((labels >= 0) & (labels < spec.num_classes))


def test_spec_roundtrip_and_runtime_config():
    spec = YoloDecodeSpec(2, (64, 64), (32,), (((10.0, 12.0),),), ('out',), (0.1,), (0,), nms_pre=-1,
                          min_bbox_size=0.0)
    assert YoloDecodeSpec.from_dict(spec.to_dict()) == spec
    old = spec.to_dict()
    del old['min_bbox_size']  # graphs lowered before the field existed: no size filter
    assert YoloDecodeSpec.from_dict(old).min_bbox_size == -1.0
    maps = [np.zeros((1, 2, 2, 7), np.int8)]
    cfg = config_of(spec, maps)
    assert cfg == YoloConfig(num_classes=2, conf_thr=0.005, score_thr=0.05, nms_pre=8, min_bbox_size=0.0,
                             iou_thr=0.45, max_det=100)  # nms_pre <= 0: all 2x2 cells x 1 anchor x 2 classes
    with pytest.raises(ValueError, match='1 anchors x 7'):
        decode_yolo(spec, [np.zeros((1, 2, 2, 6), np.int8)])
