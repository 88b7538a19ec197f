# SGD with warm-up and a cosine decay; mmdet's YOLOv3-MobileNetV2 recipe, shortened for VOC.
max_epochs = 160
base_lr = 0.01
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=base_lr * 0.01),
]
# Effective batch of the recipe: 4 GPUs x 32 images. Enable with tools/train.py --auto-scale-lr.
auto_scale_lr = dict(enable=False, base_batch_size=128)
