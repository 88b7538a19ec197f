"""YOLOv3 post-processing in C (decode + per-class NMS) equals the NumPy reference, and both give
mmdet's YOLOV3Head.predict_by_feat boxes and labels (scores equal to float32 rounding) on the
same dequantized head maps."""
from __future__ import annotations

import numpy as np
import pytest

from mcudet.deploy.cbuild import Program, Runtime
from mcudet.deploy.yolo import YoloConfig, YoloLevel, yolo_postprocess

ANCHORS = [[(116, 90), (156, 198), (373, 326)], [(30, 61), (62, 45), (59, 119)],
           [(10, 13), (16, 30), (33, 23)]]  # mmdet's YOLOv3 base sizes (configs/_base_/models)
STRIDES = [32, 16, 8]
BOX_DTYPE = np.dtype([('x1', '<f4'), ('y1', '<f4'), ('x2', '<f4'), ('y2', '<f4'), ('score', '<f4'),
                      ('label', '<i4')])


def _bits(x: float) -> int:
    return int(np.array([x], '<f4').view('<i4')[0])


def random_levels(rng: np.random.Generator, input_hw=(96, 128), num_classes: int = 5, objects: int = 6,
                  distinct: bool = True) -> list[YoloLevel]:
    """Head maps with a few confident anchors; with ``distinct``, their objectness values all differ
    (no exact score ties, whose order torch's unstable sorts leave open)."""
    attrs = 5 + num_classes
    levels = []
    for anchors, stride in zip(ANCHORS, STRIDES):
        h, w = input_hw[0] // stride, input_hw[1] // stride
        scale = float(np.float32(rng.uniform(0.06, 0.09)))
        zp = int(rng.integers(-10, 10))
        q = rng.integers(-128, 128, size=(h, w, 3, attrs))
        q[..., :4] = rng.integers(-30, 30, size=(h, w, 3, 4))  # box offsets within a few logits
        q[..., 4] = -128  # background: sigmoid((-128 - zp) * scale) < 0.001, below conf_thr
        n = min(objects, h * w * 3)
        cells = rng.choice(h * w * 3, size=n, replace=False)
        values = rng.choice(np.arange(-40, 128), size=n, replace=not distinct)
        q.reshape(-1, attrs)[cells, 4] = values
        levels.append(YoloLevel(q.reshape(1, h, w, 3 * attrs).astype(np.int8), scale, zp, float(stride),
                                np.array(anchors, np.float32)))
    return levels


def run_c(runtime: Runtime, levels: list[YoloLevel], cfg: YoloConfig):
    prog = Program()
    boxes = prog.buffer(cfg.max_det * BOX_DTYPE.itemsize)
    count = prog.buffer(4)
    args = [len(levels), levels[0].anchors.shape[0], cfg.num_classes, _bits(cfg.conf_thr),
            _bits(cfg.score_thr), cfg.nms_pre, _bits(cfg.min_bbox_size), _bits(cfg.iou_thr), cfg.max_det,
            *prog.ptr(boxes), *prog.ptr(count)]
    for lv in levels:
        _, h, w, _ = lv.data.shape
        args += [*prog.ptr(prog.const(lv.data)), h, w, _bits(lv.scale), lv.zero_point, _bits(lv.stride),
                 *prog.ptr(prog.const(lv.anchors.astype('<f4')))]
    prog.call('yolo', args)
    res = runtime.run(prog)
    assert res.status.tolist() == [0]
    n = int(res.array(count, '<i4')[0])
    out = np.frombuffer(res.buffers[boxes], dtype=BOX_DTYPE)[:n]
    return (np.stack([out['x1'], out['y1'], out['x2'], out['y2']], axis=1), out['score'].copy(),
            out['label'].astype(np.int64))


def assert_same_detections(got, want, what: str, rtol: float = 1e-5) -> None:
    """Same labels and boxes (to float32 rounding) and close scores, matched box to box (the order of
    exactly tied scores is not specified)."""
    (gb, gs, gl), (wb, ws, wl) = got, want
    assert len(gs) == len(ws), f'{what}: {len(gs)} boxes vs {len(ws)}'
    assert np.array_equal(np.sort(gl), np.sort(wl)), f'{what}: labels differ'
    for label in np.unique(wl):
        gi, wi = np.flatnonzero(gl == label), np.flatnonzero(wl == label)
        dist = np.abs(gb[gi][:, None, :] - wb[wi][None, :, :]).max(axis=2)
        match = dist.argmin(axis=1)
        assert len(set(match.tolist())) == len(wi), f'{what}: class {label} boxes do not pair up'
        np.testing.assert_allclose(gb[gi], wb[wi][match], rtol=rtol, atol=1e-3,
                                   err_msg=f'{what}: class {label} boxes differ')
        np.testing.assert_allclose(gs[gi], ws[wi][match], rtol=rtol, atol=1e-7,
                                   err_msg=f'{what}: class {label} scores differ')
    assert np.all(np.diff(gs) <= 0) and np.all(np.diff(ws) <= 0), f'{what}: not sorted by score'


@pytest.mark.parametrize('seed', range(6))
def test_c_matches_numpy_reference(runtime: Runtime, seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = random_levels(rng, objects=int(rng.integers(1, 40)), distinct=False)
    # Small nms_pre / max_det exercise the candidate heap and the truncation; ties are broken alike.
    cfg = YoloConfig(num_classes=5, nms_pre=int(rng.choice([7, 50, 1000])), max_det=int(rng.choice([3, 100])),
                     iou_thr=float(rng.choice([0.3, 0.45, 0.7])), score_thr=float(rng.choice([0.05, 0.3])),
                     min_bbox_size=float(rng.choice([-1.0, 0.0, 40.0])))
    got, want = run_c(runtime, levels, cfg), yolo_postprocess(levels, cfg)
    assert np.array_equal(got[2], want[2]), 'labels (in output order) differ'
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-7)


def test_empty_and_overfull(runtimes) -> None:
    rt = runtimes['dsp-asan']
    rng = np.random.default_rng(7)
    levels = random_levels(rng, objects=0)
    assert len(run_c(rt, levels, YoloConfig(num_classes=5))[1]) == 0
    levels = random_levels(rng, objects=200, distinct=False)
    cfg = YoloConfig(num_classes=5, nms_pre=5, max_det=1, score_thr=0.0, conf_thr=0.0)
    got, want = run_c(rt, levels, cfg), yolo_postprocess(levels, cfg)
    assert len(got[1]) == 1
    assert_same_detections(got, want, 'nms_pre=5, max_det=1')


def _mmdet_predict(levels: list[YoloLevel], cfg: YoloConfig, input_hw):
    torch = pytest.importorskip('torch')
    pytest.importorskip('mmdet')
    from mmdet.models.dense_heads import YOLOV3Head
    from mmdet.utils import register_all_modules
    from mmengine.config import ConfigDict

    from mcudet.deploy import quant_math as qm

    register_all_modules()
    head = YOLOV3Head(
        num_classes=cfg.num_classes, in_channels=[8, 8, 8], out_channels=[8, 8, 8],
        anchor_generator=dict(type='YOLOAnchorGenerator', base_sizes=ANCHORS, strides=STRIDES),
        bbox_coder=dict(type='YOLOBBoxCoder'), featmap_strides=STRIDES)
    test_cfg = ConfigDict(nms_pre=cfg.nms_pre, min_bbox_size=cfg.min_bbox_size, score_thr=cfg.score_thr,
                          conf_thr=cfg.conf_thr, nms=dict(type='nms', iou_threshold=cfg.iou_thr),
                          max_per_img=cfg.max_det)
    maps = [torch.from_numpy(qm.dequantize(lv.data, lv.scale, lv.zero_point)).permute(0, 3, 1, 2).contiguous()
            for lv in levels]
    meta = dict(img_shape=input_hw, ori_shape=input_hw, scale_factor=(1.0, 1.0))
    with torch.no_grad():
        res = head.predict_by_feat(maps, [meta], cfg=test_cfg, rescale=False)[0]
    return res.bboxes.numpy(), res.scores.numpy(), res.labels.numpy().astype(np.int64)


@pytest.mark.parametrize('seed', range(4))
def test_matches_mmdet_yolov3_head(runtimes, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    input_hw = (96, 128)
    levels = random_levels(rng, input_hw, objects=int(rng.integers(5, 30)))
    # max_det above the number of boxes: a cut through exactly tied scores would be order-dependent.
    cfg = YoloConfig(num_classes=5, score_thr=0.05, conf_thr=0.005, nms_pre=1000, iou_thr=0.45, max_det=1000)
    theirs = _mmdet_predict(levels, cfg, input_hw)
    assert len(theirs[1]) >= 3
    assert_same_detections(yolo_postprocess(levels, cfg), theirs, f'NumPy reference vs mmdet (seed {seed})')
    assert_same_detections(run_c(runtimes['portable'], levels, cfg), theirs, f'C vs mmdet (seed {seed})')
