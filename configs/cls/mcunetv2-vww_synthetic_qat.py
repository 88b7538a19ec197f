# int8 quantization-aware fine-tuning of mcunetv2-vww_synthetic.py. Start from the float checkpoint:
#   python tools/train.py configs/cls/mcunetv2-vww_synthetic_qat.py \
#       --cfg-options load_from=work_dirs/mcunetv2-vww_synthetic/epoch_12.pth
# Evaluate the int8 model:        python tools/test.py configs/cls/mcunetv2-vww_synthetic_qat.py QAT.pth
# Post-training quantization:     python tools/test.py configs/cls/mcunetv2-vww_synthetic_qat.py FLOAT.pth \
#                                     --cfg-options quantization.mode=ptq
_base_ = ['./mcunetv2-vww_synthetic.py']
max_epochs = 4
base_lr = 0.005  # a tenth of the float run's

quantization = dict(
    mode='qat',
    # observer: default 'ema' for QAT, 'minmax' for PTQ; or 'percentile' / dict(type='percentile', percentile=99.9)
    calib_batches=16,
    freeze_bn_epoch=2,
    freeze_observer_epoch=3)
custom_hooks = [dict(type='QuantizationHook')]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=0.0,
         convert_to_iter_based=True),
]
