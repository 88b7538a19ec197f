# An MCUNet-family image classifier: MCUNetV2Backbone (any zoo spec), global average pooling,
# dropout + linear classifier at `head.fc` (where tools/model_converters/mcunet_to_mcudet.py writes
# the official classifier), cross-entropy with label smoothing 0.1 (ProxylessNAS / MCUNet recipe).
# Inputs are normalised to [-1, 1] (x / 127.5 - 1, RGB) as the official MCUNet checkpoints expect.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        to_rgb=True),
    backbone=dict(type='MCUNetV2Backbone', arch='mcunet-in2'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=160,
        dropout_rate=0.0,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original', loss_weight=1.0),
        topk=(1, 5)))
