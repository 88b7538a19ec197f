"""Parametric builders for families of specs (MobileNetV2 at any width)."""
from __future__ import annotations

from typing import Optional

from .spec import ArchSpec, BlockSpec, ClassifierSpec, ConvSpec, make_divisible

# MobileNetV2 stages: expand ratio t, channels c, repeats n, first stride s (Sandler et al. 2018).
MBV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(width_mult: float = 1.0, resolution: int = 224,
                 num_classes: Optional[int] = 1000, act: str = 'relu6',
                 name: Optional[str] = None) -> ArchSpec:
    """MobileNetV2 as an ArchSpec.

    Channels are ``make_divisible(c * width_mult, 8)``; the last 1x1 layer is
    ``make_divisible(1280 * width_mult)`` as in the MCUNet zoo's mbv2-w0.35 file (448).
    """
    stem = ConvSpec(make_divisible(32 * width_mult), 3, 2, act)
    blocks = []
    for t, c, n, s in MBV2_STAGES:
        out = make_divisible(c * width_mult)
        for i in range(n):
            blocks.append(BlockSpec(out, 3, t, s if i == 0 else 1, act=act))
    last = make_divisible(1280 * width_mult)
    classifier = ClassifierSpec(num_classes, 0.2) if num_classes else None
    return ArchSpec(name or f'mbv2-w{width_mult:g}', stem, tuple(blocks), resolution, 3,
                    ConvSpec(last, 1, 1, act), classifier)


# MbV2-RD (MCUNetV2 paper, Fig. 4): MobileNetV2 with its receptive field redistributed. The
# per-patch stage shrinks to stem conv 3x3 s2, an MB1 block with a 1x1 depthwise kernel and two
# MB6 3x3 s2 blocks (input patch 63x63 instead of 75x75 for 4x4 patches at 224); the per-layer
# stage grows to 15 MB6 3x3 blocks. Rows: expand t, channels c, repeats n, first stride s, kernel k.
MBV2_RD_STAGES = ((1, 16, 1, 1, 1), (6, 24, 1, 2, 3), (6, 32, 1, 2, 3),
                  (6, 32, 3, 1, 3), (6, 64, 4, 2, 3), (6, 96, 3, 1, 3), (6, 160, 4, 2, 3), (6, 320, 1, 1, 3))


def mobilenet_v2_rd(width_mult: float = 1.0, resolution: int = 224,
                    num_classes: Optional[int] = 1000, act: str = 'relu6',
                    name: Optional[str] = None) -> ArchSpec:
    """MbV2-RD, the receptive-field-redistributed MobileNetV2 of MCUNetV2, as an ArchSpec.

    Args:
        width_mult: Channel multiplier (channels rounded with ``make_divisible(c * w, 8)``).
        resolution: Default input side.
        num_classes: Classifier outputs; None for a headless backbone.
        act: Activation of every conv but the linear projections.
        name: Spec name (default ``mbv2-rd-w{width_mult}``).
    """
    stem = ConvSpec(make_divisible(32 * width_mult), 3, 2, act)
    blocks = []
    for t, c, n, s, k in MBV2_RD_STAGES:
        out = make_divisible(c * width_mult)
        for i in range(n):
            blocks.append(BlockSpec(out, k, t, s if i == 0 else 1, act=act))
    classifier = ClassifierSpec(num_classes, 0.2) if num_classes else None
    return ArchSpec(name or f'mbv2-rd-w{width_mult:g}', stem, tuple(blocks), resolution, 3,
                    ConvSpec(make_divisible(1280 * width_mult), 1, 1, act), classifier)
