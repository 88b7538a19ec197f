# mcunetv2-vww on the procedural person / no-person set at 80x80: the VWW recipe (SGD, Nesterov,
# cosine, label smoothing 0.1) shortened to 12 epochs of 25 iterations, under a minute on 2 CPU
# cores; 92-94 % top-1 on the 100 validation images over seeds 0-4 (chance: 50 %). The demo and the
# end-to-end tests use it. Generate the data first:
#   python tools/dataset_converters/make_synthetic_cls.py data/synthetic_vww
_base_ = [
    '../_base_/models/mcunet_cls.py',
    '../_base_/datasets/synthetic_vww.py',
    '../_base_/default_runtime.py',
]
resolution = 80
input_size = (resolution, resolution)
max_epochs = 12
base_lr = 0.05

model = dict(
    backbone=dict(arch='mcunetv2-vww'),
    head=dict(num_classes=2, in_channels=160, dropout_rate=0.0, topk=(1, )))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, nesterov=True, weight_decay=5e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs, eta_min=0.0,
         convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0)
