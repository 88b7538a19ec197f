# mcunetv2-m4_in1k.py with the patch-based backbone: units 0..3 (stem, MB1, two stride-2 blocks) run
# on 2x2 patches of their 28x28 output, the rest per layer, as the MCU runs it. Logits equal the
# per-layer model's, so its checkpoints evaluate unchanged:
#   python tools/test.py configs/cls/mcunetv2-m4_in1k_patch.py CKPT
_base_ = ['./mcunetv2-m4_in1k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchBasedBackbone',
        backbone=dict(type='MCUNetV2Backbone', arch='mcunetv2-det-m4'),
        patches='2x2',
        split=4))
