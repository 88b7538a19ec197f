# WIDER FACE read from the official annotations: wider_face_split/*_bbx_gt.txt for the boxes and
# the official evaluation ground truth (wider_face_val.mat, wider_{easy,medium,hard}_val.mat in
# ground_truth/, as shipped with the official evaluation code) for easy / medium / hard AP.
data_root = 'data/WIDERFace/'
input_size = (320, 256)  # (width, height): both divide by 32, so the neck's 2x upsampling lines up
dataset_type = 'WIDERFaceTxtDataset'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='MinIoURandomCrop', min_ious=(0.5, 0.7, 0.9), min_crop_size=0.5),
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
        type=dataset_type,
        data_root=data_root,
        ann_file='wider_face_split/wider_face_train_bbx_gt.txt',
        data_prefix=dict(img='WIDER_train/images/'),
        filter_cfg=dict(filter_empty_gt=True, bbox_min_size=4),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='wider_face_split/wider_face_val_bbx_gt.txt',
        data_prefix=dict(img='WIDER_val/images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(type='WIDERFaceMetric', gt_dir=data_root + 'ground_truth/')
test_evaluator = val_evaluator
