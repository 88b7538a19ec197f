# The synthetic tiny YOLO with the patch-based backbone: the first 3 units run in 3x3 patches
# (the schedule the MCU runs), the rest per layer. Predictions are identical to the per-layer
# model, so its checkpoints load and evaluate unchanged:
#   python tools/test.py configs/det/mbv2-w035_tinyyolo_synthetic_patch.py CKPT
# The backbone's analytic SRAM drops from 350.0 kB to 87.5 kB (memory_profile.py on this config).
_base_ = ['./mbv2-w035_tinyyolo_synthetic.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchBasedBackbone',
        backbone=dict(type='MCUNetV2Backbone', arch='mbv2-w0.35', out_indices=(6, 13, 18), init_cfg=None),
        patches='3x3',
        split=3))
