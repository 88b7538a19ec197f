# MCUNetV2-M4-like ImageNet classifier for the STM32F412 budget (256 kB SRAM / 1 MB flash), 224x224.
# The paper's searched M4 network (119M MACs, 196 kB, 64.9 % top-1) is not published; this uses
# mcudet's `mcunetv2-det-m4` layout (design notes in mcudet/arch/zoo.py): 120.7M backbone MACs,
# 0.80M backbone params + a 0.19M-param classifier. Trained per layer; evaluate the same
# checkpoint patch by patch with mcunetv2-m4_in1k_patch.py (analytic backbone peak 165.1 kB).
# No ImageNet run was made for it here, so no accuracy is claimed.
_base_ = [
    '../_base_/models/mcunet_cls.py',
    '../_base_/datasets/imagenet_mcunet.py',
    '../_base_/schedules/imagenet_sgd_cosine_300e.py',
    '../_base_/default_runtime.py',
]
resolution = 224
input_size = (resolution, resolution)

model = dict(
    backbone=dict(arch='mcunetv2-det-m4'),
    head=dict(num_classes=1000, in_channels=192, dropout_rate=0.2))  # dropout: ours, as MobileNetV2

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
