# MCUNetV2 for Visual Wake Words at 160x160 (paper Fig. 9 layout, widths by mcudet: see
# mcudet/arch/zoo.py): 30.2M MACs, 0.54M params. Trained per layer; per layer its analytic int8 peak
# is 200.0 kB, patch by patch (mcunetv2-vww_vww_patch.py, split 4 on 4x4 patches) 31.2 kB: the
# paper's "VWW under 32 kB" setting (paper: > 90 % top-1). No VWW run was made for it here.
# Data: python tools/dataset_converters/build_vww.py --coco-root data/coco --out data/vww ...
_base_ = [
    '../_base_/models/mcunet_cls.py',
    '../_base_/datasets/vww.py',
    '../_base_/schedules/vww_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]
resolution = 160
input_size = (resolution, resolution)

model = dict(
    backbone=dict(arch='mcunetv2-vww'),
    head=dict(num_classes=2, in_channels=160, dropout_rate=0.0, topk=(1, )))

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
