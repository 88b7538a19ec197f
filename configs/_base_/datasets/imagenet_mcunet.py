# ImageNet-1k in mmpretrain's layout (data/imagenet/{train,val}/, meta/{train,val}.txt).
# Training: Inception crop, flip and the ProxylessNAS / MCUNet colour jitter; evaluation: the
# official MCUNet protocol, short side int(r * 256 / 224) with PIL's antialiased bilinear resize,
# then a centred r x r crop. Model configs override the pipelines with their resolution `r`.
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
resolution = 224

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

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
