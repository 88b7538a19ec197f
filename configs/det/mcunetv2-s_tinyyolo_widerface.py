# MCUNetV2-S tiny YOLO face detector on WIDER FACE at 256x320 (HxW).
# Backbone 'mcunetv2-s': first 4 units in 3x3 patches; analytic backbone peak 150.0 kB at
# 256x320 (140.6 kB at the 240x320 it was designed for), paper budget 168 kB.
_base_ = [
    '../_base_/models/tinyyolo_mcunetv2.py',
    '../_base_/datasets/widerface.py',
    '../_base_/schedules/sgd_cosine_160e.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/WIDERFace/'
input_size = (256, 320)  # (height, width), read by the analysis tools

model = dict(
    backbone=dict(arch='mcunetv2-s', out_indices=(5, 9, 12)),
    neck=dict(in_channels=[24, 64, 160], out_channels=[96, 64, 48]),
    bbox_head=dict(
        num_classes=1,
        in_channels=[96, 64, 48],
        out_channels=[96, 64, 48],
        # Faces are close to square and mostly small.
        anchor_generator=dict(base_sizes=[[(64, 72), (96, 112), (160, 180)],
                                          [(24, 28), (32, 38), (44, 52)],
                                          [(6, 7), (10, 12), (16, 18)]])),
    test_cfg=dict(score_thr=0.01, conf_thr=0.005, max_per_img=300))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(gt_dir=data_root + 'ground_truth/')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
                     visualization=dict(type='DetVisualizationHook'))
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], name='visualizer')
