# The procedural person / no-person set in the Visual Wake Words layout
# (python tools/dataset_converters/make_synthetic_cls.py data/synthetic_vww), 80x80 images.
dataset_type = 'VisualWakeWords'
data_root = 'data/synthetic_vww'
resolution = 80

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # Mild crops only: a small crop could cut the figure out and flip the label.
    dict(type='RandomResizedCrop', scale=resolution, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=32. / 255., saturation=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=resolution, edge='short'),
    dict(type='CenterCrop', crop_size=resolution),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=2,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
