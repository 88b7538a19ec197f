"""YOLOv3 post-processing outside the integer graph: its description and its reference.

The integer graph of a detector ends at the raw prediction maps (int8 NHWC, one per scale).
:class:`YoloDecodeSpec` (``graph.metadata['yolo_decode']``, written by
:func:`mcudet.quantization.lower_to_ir`) carries what the runtime needs to turn them into boxes,
and :func:`decode_yolo` is the reference of the C post-processing
(``deploy/runtime/src/yolo_postprocess.c``, ``mcu_rt_yolo.h``): the same steps in the same float32
arithmetic, so the C boxes equal it to float32 rounding, and both equal mmdet's
``YOLOV3Head.predict_by_feat`` on the dequantized maps (tests/runtime/test_yolo.py,
tests/quantization/test_yolo_decode.py).

For level ``l`` with stride ``s``, output map ``q`` of shape [1, H, W, A * (5 + K)]:
``t = scale * (q - zero_point)``; channel ``a * (5 + K) + k`` of cell (i, j) holds, for
anchor ``a`` of size (aw, ah):

* k = 0, 1: ``cx = (j + 0.5) * s + (sigmoid(t0) - 0.5) * s``, ``cy`` likewise with ``i``;
* k = 2, 3: ``w = aw * exp(t2)``, ``h = ah * exp(t3)``; box = (cx -+ w / 2, cy -+ h / 2);
* k = 4: objectness ``sigmoid(t4)``; candidates need objectness >= ``conf_thr``;
* k = 5 + c: class score ``sigmoid(t)``; a (box, class) pair is kept when its class
  score > ``score_thr``; the ``nms_pre`` best pairs go on; final score = class score
  * objectness; boxes not wider and taller than ``min_bbox_size`` are dropped; per-class
  NMS at IoU ``nms_iou``; at most ``max_per_img`` boxes, best first. Ties are broken by the
  flat index (anchor * num_classes + class), as in C.

Boxes are in input-image pixels (the graph's input size); scale them back to the camera frame
as the preprocessing resized it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import quant_math as qm

LAYOUT = ('NHWC; channel a*(5+K)+k: k=0,1 sigmoid -> (v-0.5)*stride + cell centre; k=2,3 exp * anchor '
          'size; k=4 objectness logit; k=5.. class logits')


@dataclass(frozen=True)
class YoloDecodeSpec:
    """Decode parameters of a YOLOv3 head (see the module docstring for the formulas).

    Args:
        num_classes: K.
        input_hw: Network input (height, width) in pixels.
        strides: Stride of each output map, in graph output order.
        anchors: Per level, the (width, height) of each anchor in input pixels.
        outputs: IR output tensor of each level.
        output_scales, output_zero_points: Their int8 quantization.
        conf_thr, score_thr, nms_iou, nms_pre, max_per_img, min_bbox_size: mmdet's test_cfg
            (``nms_pre <= 0``: every candidate; ``min_bbox_size < 0``: no size filter).
    """

    num_classes: int
    input_hw: tuple[int, int]
    strides: tuple[int, ...]
    anchors: tuple[tuple[tuple[float, float], ...], ...]
    outputs: tuple[str, ...]
    output_scales: tuple[float, ...]
    output_zero_points: tuple[int, ...]
    conf_thr: float = 0.005
    score_thr: float = 0.05
    nms_iou: float = 0.45
    nms_pre: int = 1000
    max_per_img: int = 100
    min_bbox_size: float = -1.0
    layout: str = LAYOUT

    @classmethod
    def from_head(cls, head: Any, graph: Any, input_hw: Sequence[int]) -> YoloDecodeSpec:
        """From an mmdet ``YOLOV3Head`` and the lowered graph (outputs in the head's level order)."""
        gen = head.prior_generator
        strides = tuple(int(s[0]) if isinstance(s, (tuple, list)) else int(s) for s in gen.strides)
        anchors = tuple(tuple((float(w), float(h)) for w, h in level) for level in gen.base_sizes)
        cfg = head.test_cfg or {}
        nms = cfg.get('nms', {}) or {}
        outs = tuple(graph.outputs)
        if len(outs) != len(strides):
            raise ValueError(f'YoloDecodeSpec: {len(outs)} graph outputs for {len(strides)} head levels')
        return cls(
            num_classes=int(head.num_classes), input_hw=(int(input_hw[0]), int(input_hw[1])), strides=strides,
            anchors=anchors, outputs=outs,
            output_scales=tuple(float(graph.tensor(t).scale) for t in outs),
            output_zero_points=tuple(int(graph.tensor(t).zero_point) for t in outs),
            conf_thr=float(cfg.get('conf_thr', -1)), score_thr=float(cfg.get('score_thr', 0.0)),
            nms_iou=float(nms.get('iou_threshold', 0.45)), nms_pre=int(cfg.get('nms_pre', -1)),
            max_per_img=int(cfg.get('max_per_img', 100)), min_bbox_size=float(cfg.get('min_bbox_size', -1)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d['anchors'] = [[list(a) for a in level] for level in self.anchors]
        for k in ('input_hw', 'strides', 'outputs', 'output_scales', 'output_zero_points'):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> YoloDecodeSpec:
        d = dict(d)
        d.setdefault('min_bbox_size', -1.0)
        d['anchors'] = tuple(tuple(tuple(a) for a in level) for level in d['anchors'])
        for k in ('input_hw', 'strides', 'outputs', 'output_scales', 'output_zero_points'):
            d[k] = tuple(d[k])
        return cls(**d)


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


def levels_of(spec: YoloDecodeSpec, maps: Sequence[np.ndarray]) -> list[YoloLevel]:
    """The runtime's per-level description (``mcu_yolo_level_t``) of the graph outputs ``maps``."""
    k = spec.num_classes + 5
    levels = []
    for q, s, zp, stride, anchors in zip(maps, spec.output_scales, spec.output_zero_points, spec.strides,
                                         spec.anchors):
        q = np.asarray(q)
        if q.ndim != 4 or q.shape[-1] != len(anchors) * k:
            raise ValueError(f'decode_yolo: map of shape {q.shape}; expected [1, H, W, '
                             f'{len(anchors)} anchors x {k}]')
        levels.append(YoloLevel(q, float(s), int(zp), float(stride), np.asarray(anchors, f32)))
    return levels


def config_of(spec: YoloDecodeSpec, maps: Sequence[np.ndarray]) -> YoloConfig:
    """The runtime's ``mcu_yolo_cfg_t`` of ``spec``; ``nms_pre <= 0`` becomes every candidate pair."""
    cells = sum(int(np.prod(np.shape(m)[1:3])) * len(a) for m, a in zip(maps, spec.anchors))
    pairs = cells * spec.num_classes
    nms_pre = min(spec.nms_pre, pairs) if spec.nms_pre > 0 else pairs
    return YoloConfig(num_classes=spec.num_classes, conf_thr=spec.conf_thr, score_thr=spec.score_thr,
                      nms_pre=max(nms_pre, 1), min_bbox_size=spec.min_bbox_size, iou_thr=spec.nms_iou,
                      max_det=spec.max_per_img)


Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


def decode_yolo(spec: YoloDecodeSpec, maps: Sequence[np.ndarray]) -> Detections:
    """Detections (boxes [N, 4] xyxy in input pixels, scores [N], labels [N]) from the int8 outputs."""
    return yolo_postprocess(levels_of(spec, maps), config_of(spec, maps))


__all__ = ['YoloConfig', 'YoloDecodeSpec', 'YoloLevel', 'config_of', 'decode_yolo', 'levels_of',
           'yolo_postprocess']
