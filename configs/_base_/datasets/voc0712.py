# Pascal VOC: 2007 + 2012 trainval for training, 2007 test for evaluation (11-point AP).
data_root = 'data/VOCdevkit/'
input_size = (224, 224)
dataset_type = 'VOCDataset'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1, 2)),
    dict(type='MinIoURandomCrop', min_ious=(0.4, 0.5, 0.6, 0.7, 0.8, 0.9), min_crop_size=0.3),
    # A fixed input size: the MCU runs one static schedule.
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='ConcatDataset',
        # VOCDataset adds a dataset_type to its metainfo, which ConcatDataset compares.
        ignore_keys=['dataset_type'],
        datasets=[
            dict(type=dataset_type, data_root=data_root,
                 ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32),
                 pipeline=train_pipeline, backend_args=backend_args),
            dict(type=dataset_type, data_root=data_root,
                 ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32),
                 pipeline=train_pipeline, backend_args=backend_args),
        ]))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        test_mode=True, pipeline=test_pipeline, backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator
