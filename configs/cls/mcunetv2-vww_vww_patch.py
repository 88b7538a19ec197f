# mcunetv2-vww_vww.py evaluated as the MCU runs it: units 0..3 (stem, MB1 1x1, two stride-2 blocks)
# on 4x4 patches of their 20x20 output, the rest per layer; analytic int8 peak 31.2 kB (set by the
# per-layer stage). The logits equal the per-layer model's, so its checkpoints evaluate unchanged:
#   python tools/test.py configs/cls/mcunetv2-vww_vww_patch.py CKPT
_base_ = ['./mcunetv2-vww_vww.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PatchBasedBackbone',
        backbone=dict(type='MCUNetV2Backbone', arch='mcunetv2-vww'),
        patches='4x4',
        split=4,
        budget='32kB'))
