# Per-layer baseline for Visual Wake Words: mbv2-w0.35-r144 (the MCUNet zoo's ImageNet network) at 144x144
# with a two-class classifier. Its per-layer activation peak is far above the 32 kB of
# mcunetv2-vww_vww_patch.py; compare with tools/analysis_tools/model_table.py configs/cls/*_vww*.py.
# Like MCUNet's VWW models it can start from its ImageNet weights: convert the official checkpoint
# (see mbv2-w035-r144_in1k.py) and add
#   model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')))
_base_ = [
    '../_base_/models/mcunet_cls.py',
    '../_base_/datasets/vww.py',
    '../_base_/schedules/vww_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]
resolution = 144
input_size = (resolution, resolution)

model = dict(
    backbone=dict(arch='mbv2-w0.35-r144'),
    head=dict(num_classes=2, in_channels=448, dropout_rate=0.2, topk=(1, )))

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
