# MCUNetV2-H7 tiny YOLO on Pascal VOC at 320x320, for STM32H743-class boards (512 kB SRAM, 2 MB flash).
# Backbone 'mcunetv2-det-h7': first 4 units in 2x2 patches on the MCU.
_base_ = ['./mcunetv2-m4_tinyyolo_voc.py']
data_root = 'data/VOCdevkit/'
input_size = (320, 320)

model = dict(
    backbone=dict(arch='mcunetv2-det-h7', out_indices=(5, 9, 13)),
    neck=dict(in_channels=[40, 96, 320], out_channels=[160, 128, 96]),
    bbox_head=dict(
        in_channels=[160, 128, 96],
        out_channels=[160, 128, 96],
        # mmdet's YOLOv3 anchors (416 input) scaled to 320.
        anchor_generator=dict(base_sizes=[[(89, 69), (120, 152), (287, 251)],
                                          [(23, 47), (48, 35), (45, 92)],
                                          [(8, 10), (12, 23), (25, 18)]])))
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1, 2)),
    dict(type='MinIoURandomCrop', min_ious=(0.4, 0.5, 0.6, 0.7, 0.8, 0.9), min_crop_size=0.3),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(datasets=[dict(pipeline=train_pipeline), dict(pipeline=train_pipeline)]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
