# ImageNet recipe of ProxylessNAS (Cai et al., ICLR 2019), whose training code MCUNet's TinyNAS
# builds on: SGD with Nesterov momentum 0.9, learning rate 0.05 per 256 images with a cosine decay,
# weight decay 4e-5 (not on batch-norm parameters and biases), 300 epochs. Label smoothing 0.1
# sits in the head's loss (_base_/models/mcunet_cls.py). The 5-epoch linear warm-up is ours: it
# keeps the first iterations of a large batch stable.
max_epochs = 300
warmup_epochs = 5
base_lr = 0.1  # 512 images per iteration (e.g. 4 GPUs x 128); tools/train.py --auto-scale-lr rescales
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, nesterov=True, weight_decay=4e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=0.0,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=512)
