# MCUNetV2-H7-like ImageNet classifier for the STM32H743 budget (512 kB SRAM / 2 MB flash), 320x320.
# The paper's searched H7 network (256M MACs, 465 kB, 71.8 % top-1) is not published; this uses
# mcudet's `mcunetv2-det-h7` layout (design notes in mcudet/arch/zoo.py): 277.4M backbone MACs,
# 1.11M backbone params + a 0.32M-param classifier. Trained per layer; evaluate the same
# checkpoint patch by patch with mcunetv2-h7_in1k_patch.py (analytic backbone peak 325.6 kB).
# No ImageNet run was made for it here, so no accuracy is claimed.
_base_ = [
    '../_base_/models/mcunet_cls.py',
    '../_base_/datasets/imagenet_mcunet.py',
    '../_base_/schedules/imagenet_sgd_cosine_300e.py',
    '../_base_/default_runtime.py',
]
resolution = 320
input_size = (resolution, resolution)

model = dict(
    backbone=dict(arch='mcunetv2-det-h7'),
    head=dict(num_classes=1000, in_channels=320, dropout_rate=0.2))  # dropout: ours, as MobileNetV2

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
