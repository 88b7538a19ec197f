# Tiny YOLO on MobileNetV2 width 0.35 at 224x224: the smallest per-layer baseline.
_base_ = ['./mcunetv2-m4_tinyyolo_voc.py']
model = dict(
    backbone=dict(arch='mbv2-w0.35', out_indices=(6, 13, 17)),
    neck=dict(in_channels=[16, 32, 112], out_channels=[96, 64, 48]),
    bbox_head=dict(in_channels=[96, 64, 48], out_channels=[96, 64, 48]))
