# mcunetv2-h7_in1k.py with the patch-based backbone: units 0..3 run on 2x2 patches of their 40x40
# output, the rest per layer. Logits equal the per-layer model's, so its checkpoints evaluate
# unchanged:  python tools/test.py configs/cls/mcunetv2-h7_in1k_patch.py CKPT
_base_ = ['./mcunetv2-h7_in1k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchBasedBackbone',
        backbone=dict(type='MCUNetV2Backbone', arch='mcunetv2-det-h7'),
        patches='2x2',
        split=4))
