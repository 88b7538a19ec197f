# Visual Wake Words: the ImageNet recipe (SGD, Nesterov momentum 0.9, cosine decay, label
# smoothing 0.1 in the head) on a two-class set of 115k images. The papers do not publish their
# VWW schedule; 100 epochs and weight decay 5e-5 (the upper end of the 4e-5..5e-5 range of the
# MobileNetV2 / ProxylessNAS / MCUNet recipes: a smaller set overfits sooner) are our choice.
max_epochs = 100
warmup_epochs = 2
base_lr = 0.05  # 256 images per iteration; tools/train.py --auto-scale-lr rescales
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, nesterov=True, weight_decay=5e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=0.0,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=256)
