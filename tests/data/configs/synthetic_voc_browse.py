# Browse the training pipeline of a synthetic shapes set (tools/dataset_converters/make_synthetic.py voc).
# Point it at a set with --cfg-options train_dataloader.dataset.data_root=OUT/VOCdevkit/ (the folder
# holding VOC2007/): a top-level data_root override would not reach the already-built dataset dict.
_base_ = ['../../../configs/_base_/default_runtime.py']

data_root = 'data/synthetic_voc/VOCdevkit/'
classes = ('circle', 'square', 'triangle', 'cross')  # mcudet.datasets.SHAPE_CLASSES
img_scale = (160, 160)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='MCUVOCDataset',
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))

visualizer = dict(type='DetLocalVisualizer', name='visualizer')  # drawings go to --output-dir
