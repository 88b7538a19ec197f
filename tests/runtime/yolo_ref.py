"""NumPy reference of the C YOLOv3 post-processing (deploy/runtime/src/yolo_postprocess.c).

Same steps and the same float32 arithmetic as the C code (and as mmdet's YOLOV3Head.predict_by_feat
on the dequantized maps): objectness threshold, class-score threshold, the ``nms_pre`` best class
scores, YOLOBBoxCoder decode, score = class score x objectness, box-size filter, per-class greedy
NMS, ``max_det`` boxes. Ties are broken by the flat index (anchor * num_classes + class), as in C.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mcudet.deploy import quant_math as qm

f32 = np.float32


@dataclass(frozen=True)
class YoloLevel:
    """One head output: int8 map [1, H, W, A * (5 + C)], its quantization, stride and anchors (w, h)."""

    data: np.ndarray
    scale: float
    zero_point: int
    stride: float
    anchors: np.ndarray  # [A, 2] float32 (width, height) in input pixels


@dataclass(frozen=True)
class YoloConfig:
    num_classes: int
    conf_thr: float = 0.005
    score_thr: float = 0.05
    nms_pre: int = 1000
    min_bbox_size: float = 0.0
    iou_thr: float = 0.45
    max_det: int = 100


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (f32(1) / (f32(1) + np.exp(-x))).astype(f32)


def yolo_postprocess(levels: Sequence[YoloLevel], cfg: YoloConfig
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes [N, 4] (x1, y1, x2, y2), scores [N], labels [N], best first."""
    c = cfg.num_classes
    attrs = 5 + c
    preds, anchors, strides = [], [], []
    for lv in levels:
        _, h, w, ch = lv.data.shape
        a = ch // attrs
        real = qm.dequantize(lv.data, lv.scale, lv.zero_point).reshape(h * w * a, attrs)
        preds.append(real)
        ys, xs = np.meshgrid(np.arange(h, dtype=f32), np.arange(w, dtype=f32), indexing='ij')
        shift_x = np.repeat((xs.ravel() * f32(lv.stride)), a)
        shift_y = np.repeat((ys.ravel() * f32(lv.stride)), a)
        half = f32(lv.stride) * f32(0.5)
        aw = np.tile(lv.anchors[:, 0].astype(f32), h * w)
        ah = np.tile(lv.anchors[:, 1].astype(f32), h * w)
        anchors.append(np.stack([shift_x + (half - f32(0.5) * aw), shift_y + (half - f32(0.5) * ah),
                                 shift_x + (half + f32(0.5) * aw), shift_y + (half + f32(0.5) * ah)], axis=1))
        strides.append(np.full(h * w * a, f32(lv.stride), dtype=f32))
    pred = np.concatenate(preds).astype(f32)
    anchor = np.concatenate(anchors).astype(f32)
    stride = np.concatenate(strides)
    obj = _sigmoid(pred[:, 4])
    cls = _sigmoid(pred[:, 5:])
    ok = (obj >= f32(cfg.conf_thr))[:, None] & (cls > f32(cfg.score_thr))
    ai, ci = np.nonzero(ok)
    score = cls[ai, ci]
    key = ai.astype(np.int64) * c + ci
    order = np.lexsort((key, -score))[:cfg.nms_pre]
    ai, ci, score, key = ai[order], ci[order], score[order], key[order]
    # YOLOBBoxCoder.decode
    an, p, s = anchor[ai], pred[ai], stride[ai]
    cx = (an[:, 0] + an[:, 2]) * f32(0.5) + (_sigmoid(p[:, 0]) - f32(0.5)) * s
    cy = (an[:, 1] + an[:, 3]) * f32(0.5) + (_sigmoid(p[:, 1]) - f32(0.5)) * s
    hw = (an[:, 2] - an[:, 0]) * f32(0.5) * np.exp(p[:, 2])
    hh = (an[:, 3] - an[:, 1]) * f32(0.5) * np.exp(p[:, 3])
    boxes = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1).astype(f32)
    score = (score * obj[ai]).astype(f32)
    if cfg.min_bbox_size >= 0:
        keep = ((boxes[:, 2] - boxes[:, 0]) > f32(cfg.min_bbox_size)) & \
            ((boxes[:, 3] - boxes[:, 1]) > f32(cfg.min_bbox_size))
        boxes, score, ci, key = boxes[keep], score[keep], ci[keep], key[keep]
    order = np.lexsort((key, -score))
    boxes, score, ci = boxes[order], score[order], ci[order]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = np.ones(len(score), dtype=bool)
    kept = []
    for i in range(len(score)):
        if not alive[i]:
            continue
        kept.append(i)
        if len(kept) == cfg.max_det:
            break
        j = np.arange(i + 1, len(score))
        j = j[alive[j] & (ci[j] == ci[i])]
        w = np.maximum(f32(0), np.minimum(boxes[i, 2], boxes[j, 2]) - np.maximum(boxes[i, 0], boxes[j, 0]))
        h = np.maximum(f32(0), np.minimum(boxes[i, 3], boxes[j, 3]) - np.maximum(boxes[i, 1], boxes[j, 1]))
        inter = (w * h).astype(f32)
        iou = inter / (area[i] + area[j] - inter)
        alive[j[iou > f32(cfg.iou_thr)]] = False
    kept = np.array(kept, dtype=np.int64)
    return boxes[kept], score[kept], ci[kept].astype(np.int64)
