# Tiny YOLO on MbV2-RD (the paper's receptive-field-redistributed MobileNetV2) at 224x224.
# The per-patch stage (stem, MB1 1x1, two MB6 3x3 stride 2) ends at stride 8; 4x4 patches give
# a 63x63 input patch and cut the backbone's analytic peak from 1372 kB to 172 kB.
_base_ = ['./mcunetv2-m4_tinyyolo_voc.py']
model = dict(
    backbone=dict(arch='mbv2-rd', out_indices=(6, 13, 18)),
    neck=dict(in_channels=[32, 96, 320]))
