# Tiny YOLO on MobileNetV2 w0.35 at 160x160, trained on the procedural shapes set in minutes on a CPU.
# The README demo and the end-to-end tests use it. Generate the data first:
#   python tools/dataset_converters/make_synthetic.py voc data/synthetic_voc
_base_ = [
    '../_base_/models/tinyyolo_mcunetv2.py',
    '../_base_/datasets/synthetic_voc.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/synthetic_voc/VOCdevkit/'
max_epochs = 30
base_lr = 0.004

model = dict(
    backbone=dict(arch='mbv2-w0.35', out_indices=(6, 13, 18)),
    neck=dict(in_channels=[16, 32, 448], out_channels=[64, 48, 32]),
    bbox_head=dict(
        num_classes=4,
        in_channels=[64, 48, 32],
        out_channels=[64, 48, 32],
        # Shapes span 16-72 px at 160x160.
        anchor_generator=dict(base_sizes=[[(48, 48), (60, 60), (72, 72)],
                                          [(28, 28), (34, 34), (40, 40)],
                                          [(14, 14), (18, 18), (22, 22)]])))

train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=5e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=base_lr * 0.05),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2),
    visualization=dict(type='DetVisualizationHook'))
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], name='visualizer')
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0)
