# int8 quantization-aware fine-tuning of mbv2-w035_tinyyolo_synthetic.py (the paper fine-tunes 10 epochs
# with QAT). Start from the float checkpoint:
#   python tools/train.py configs/det/mbv2-w035_tinyyolo_synthetic_qat.py \
#       --cfg-options load_from=work_dirs/mbv2-w035_tinyyolo_synthetic/epoch_30.pth
# Evaluate the int8 model (fake quantization, bit-faithful to the integer graph within one step):
#   python tools/test.py configs/det/mbv2-w035_tinyyolo_synthetic_qat.py work_dirs/.../epoch_10.pth
# Post-training quantization of the float checkpoint instead (no training):
#   python tools/test.py configs/det/mbv2-w035_tinyyolo_synthetic_qat.py FLOAT.pth \
#       --cfg-options quantization.mode=ptq
_base_ = ['./mbv2-w035_tinyyolo_synthetic.py']
max_epochs = 10
base_lr = 0.0004  # a tenth of the float run's

quantization = dict(
    mode='qat',
    # observer: default 'ema' for QAT, 'minmax' for PTQ; or 'percentile' / dict(type='percentile', percentile=99.9)
    calib_batches=16,  # ranges are calibrated on these batches before training starts
    freeze_bn_epoch=6,  # fold batch norm with frozen running statistics for the last epochs
    freeze_observer_epoch=8)
custom_hooks = [dict(type='QuantizationHook')]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=base_lr * 0.05),
]
