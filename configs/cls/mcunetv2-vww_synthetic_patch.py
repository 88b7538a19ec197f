# mcunetv2-vww_synthetic.py with the patch-based backbone: units 0..3 on 2x2 patches of their 10x10
# output, the rest per layer. Identical logits, so the per-layer checkpoints evaluate unchanged:
#   python tools/test.py configs/cls/mcunetv2-vww_synthetic_patch.py CKPT
_base_ = ['./mcunetv2-vww_synthetic.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchBasedBackbone',
        backbone=dict(type='MCUNetV2Backbone', arch='mcunetv2-vww'),
        patches='2x2',
        split=4))
