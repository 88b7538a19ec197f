/*
 * YOLOv3 detection post-processing in C: from the int8 head maps to a fixed array of boxes, as
 * mmdet's YOLOV3Head.predict_by_feat (YOLOBBoxCoder, batched NMS) does it.
 *
 * This stage uses float32 (the integer network ends at the head maps): each map is dequantized
 * with its scale and zero point, through 256-entry tables per level (sigmoid and exp of every int8
 * value), so the per-anchor work is table look-ups plus the decode of the surviving candidates.
 *
 * Steps (mmdet 3.x semantics):
 *   1. objectness = sigmoid(t_obj); anchors with objectness < conf_thr are dropped;
 *   2. class score = sigmoid(t_cls); (anchor, class) pairs with score <= score_thr are dropped;
 *   3. the nms_pre pairs with the highest class score are kept;
 *   4. decode: center = anchor center + (sigmoid(t_xy) - 0.5) * stride,
 *      half size = anchor size * 0.5 * exp(t_wh); box = center -/+ half size (input pixels);
 *   5. score = class score * objectness; boxes with width or height <= min_bbox_size are
 *      dropped (min_bbox_size < 0: no filter);
 *   6. per-class greedy NMS in decreasing score: a box is suppressed by a kept box of its class
 *      with IoU > iou_thr (IoU with areas (x2 - x1) * (y2 - y1), as mmcv's nms with offset 0);
 *   7. the first max_det kept boxes, in decreasing score.
 * Ties (equal scores) are broken by the smaller flat index (anchor index * num_classes + class,
 * anchors numbered level by level, then row, column, anchor), the order mmdet's flattening uses;
 * torch's unstable sorts may order exact ties differently.
 */
#ifndef MCU_RT_YOLO_H
#define MCU_RT_YOLO_H

#include "mcu_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One output scale of the head. */
typedef struct {
    const int8_t *data;     /* dense NHWC map [h][w][num_anchors * (5 + num_classes)]; channel
                               a * (5 + C) + {0: tx, 1: ty, 2: tw, 3: th, 4: objectness, 5 + k: class k} */
    int32_t h, w;
    float scale;            /* dequantization: real = scale * (q - zero_point) */
    int32_t zero_point;
    float stride;           /* input pixels per map cell (mmdet featmap_strides) */
    const float *anchors;   /* num_anchors (width, height) pairs in input pixels (mmdet base_sizes) */
} mcu_yolo_level_t;

/** Post-processing configuration (mmdet test_cfg). */
typedef struct {
    int32_t num_levels;
    int32_t num_anchors;    /* per cell, the same on every level */
    int32_t num_classes;
    float conf_thr;         /* objectness >= conf_thr */
    float score_thr;        /* class score > score_thr */
    int32_t nms_pre;        /* candidates kept before NMS (> 0; sizes the workspace) */
    float min_bbox_size;    /* width and height > min_bbox_size; < 0 disables the filter */
    float iou_thr;          /* NMS suppresses IoU > iou_thr */
    int32_t max_det;        /* boxes returned at most (mmdet max_per_img) */
} mcu_yolo_cfg_t;

/** A detection in input-image pixels. */
typedef struct {
    float x1, y1, x2, y2;
    float score;
    int32_t label;
} mcu_box_t;

/**
 * Workspace bytes for mcu_yolo_postprocess: two 256-entry float tables plus nms_pre candidates of
 * 36 bytes (nms_pre = 100 needs 5.6 KiB; mmdet's default 1000 needs 37 KiB). 4-byte aligned.
 */
size_t mcu_yolo_workspace_size(const mcu_yolo_cfg_t *cfg);

/**
 * Decode the head maps and run NMS; writes up to cfg->max_det boxes (decreasing score) and their
 * number to *num_boxes. Returns MCU_RT_ERR_ARG for a bad configuration or a missing workspace.
 */
mcu_status_t mcu_yolo_postprocess(const mcu_yolo_level_t *levels, const mcu_yolo_cfg_t *cfg, void *workspace,
                                  mcu_box_t *boxes, int32_t *num_boxes);

#ifdef __cplusplus
}
#endif

#endif /* MCU_RT_YOLO_H */
