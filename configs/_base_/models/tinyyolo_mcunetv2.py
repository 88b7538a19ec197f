# Tiny YOLOv3 on an MCUNetV2 backbone: mmdet's YOLOV3 detector, TinyYOLOV3Neck/Head.
# Backbone out_indices count units: 0 = stem, i + 1 = blocks[i], last = feature_mix.
num_classes = 20
data_preprocessor = dict(
    type='DetDataPreprocessor',
    # [0, 255] -> [-1, 1]: folds into the int8 input as (pixel - 128) with scale 1/127.5,
    # so the MCU feeds raw pixels.
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    pad_size_divisor=32)
model = dict(
    type='YOLOV3',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='MCUNetV2Backbone', arch='mbv2-w0.35', out_indices=(6, 13, 18), init_cfg=None),
    neck=dict(type='TinyYOLOV3Neck', in_channels=[16, 32, 448], out_channels=[96, 64, 48]),
    bbox_head=dict(
        type='TinyYOLOV3Head',
        num_classes=num_classes,
        in_channels=[96, 64, 48],
        out_channels=[96, 64, 48],
        anchor_generator=dict(
            type='YOLOAnchorGenerator',
            base_sizes=[[(116, 90), (156, 198), (373, 326)],
                        [(30, 61), (62, 45), (59, 119)],
                        [(10, 13), (16, 30), (33, 23)]],
            strides=[32, 16, 8]),
        bbox_coder=dict(type='YOLOBBoxCoder'),
        featmap_strides=[32, 16, 8],
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0, reduction='sum'),
        loss_conf=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0, reduction='sum'),
        loss_xy=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0, reduction='sum'),
        loss_wh=dict(type='MSELoss', loss_weight=2.0, reduction='sum')),
    train_cfg=dict(assigner=dict(type='GridAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0)),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        conf_thr=0.005,
        nms=dict(type='nms', iou_threshold=0.45),
        max_per_img=100))
