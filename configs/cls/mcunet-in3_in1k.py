# mcunet-in3 on ImageNet-1k: the official MCUNet zoo network mcunet-320kb-1mb_imagenet.json,
# 176x176, 81.8M MACs; the zoo reports 62.2 % top-1 (fp32) for its checkpoint.
# Evaluate the official checkpoint:
#   python tools/model_converters/mcunet_to_mcudet.py mcunet-320kb-1mb_imagenet.pth work_dirs/mcunet-in3.pth --arch mcunet-in3
#   python tools/test.py configs/cls/mcunet-in3_in1k.py work_dirs/mcunet-in3.pth
_base_ = [
    '../_base_/models/mcunet_cls.py',
    '../_base_/datasets/imagenet_mcunet.py',
    '../_base_/schedules/imagenet_sgd_cosine_300e.py',
    '../_base_/default_runtime.py',
]
resolution = 176
input_size = (resolution, resolution)

model = dict(
    backbone=dict(arch='mcunet-in3'),
    head=dict(num_classes=1000, in_channels=160, dropout_rate=0.0))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=resolution),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=32. / 255., saturation=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(resolution * 256 / 224), edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=resolution),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
