# MCUNetV2-M4 tiny YOLO on Pascal VOC at 224x224, for STM32F412-class boards (256 kB SRAM, 1 MB flash).
# The backbone runs its first 4 units in 2x2 patches on the MCU (see the zoo entry
# 'mcunetv2-det-m4'); training and evaluation here run it per layer: the predictions are
# identical (PatchBasedBackbone), the patch schedule is an inference-time rewrite.
_base_ = [
    '../_base_/models/tinyyolo_mcunetv2.py',
    '../_base_/datasets/voc0712.py',
    '../_base_/schedules/sgd_cosine_160e.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/VOCdevkit/'
input_size = (224, 224)

model = dict(
    backbone=dict(arch='mcunetv2-det-m4', out_indices=(5, 9, 13)),
    neck=dict(in_channels=[40, 96, 192], out_channels=[128, 96, 64]),
    bbox_head=dict(
        num_classes=20,
        in_channels=[128, 96, 64],
        out_channels=[128, 96, 64],
        # mmdet's YOLOv3 anchors (416 input) scaled to 224.
        anchor_generator=dict(base_sizes=[[(62, 48), (84, 107), (201, 176)],
                                          [(16, 33), (33, 24), (32, 64)],
                                          [(5, 7), (9, 16), (18, 12)]])))
train_dataloader = dict(dataset=dict(datasets=[dict(data_root=data_root), dict(data_root=data_root)]))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3, save_best='auto'),
                     visualization=dict(type='DetVisualizationHook'))
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], name='visualizer')
