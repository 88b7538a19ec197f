"""A YOLOv3 head for microcontrollers: depthwise-separable bridges, ReLU6."""
from typing import Optional

from mmcv.cnn import DepthwiseSeparableConvModule
from mmdet.models.dense_heads import YOLOV3Head
from torch import nn

from mcudet.registry import MODELS


@MODELS.register_module()
class TinyYOLOV3Head(YOLOV3Head):
    """mmdet's ``YOLOV3Head`` with a depthwise-separable 3x3 bridge per scale.

    Losses, target assignment, decoding and NMS are mmdet's; only the layers change:
    the dense 3x3 bridge (9 * C_in * C_out MACs per pixel) becomes a depthwise 3x3 +
    pointwise 1x1 (9 * C_in + C_in * C_out), and the activation defaults to ReLU6,
    whose bounded range quantizes well to int8. One to three scales, set by
    ``featmap_strides`` and the anchor generator.

    Args:
        num_classes: Object classes (no background).
        in_channels: Input channels per scale, lowest resolution first.
        out_channels: Bridge channels per scale.
        act_cfg: Activation of the bridges.
        **kwargs: The rest of ``YOLOV3Head``'s arguments (anchor_generator,
            bbox_coder, featmap_strides, losses, train_cfg, test_cfg).
    """

    def __init__(self, num_classes: int, in_channels, out_channels=(96, 96, 96),
                 act_cfg: Optional[dict] = None, **kwargs) -> None:
        act_cfg = act_cfg or dict(type='ReLU6')
        in_channels, out_channels = list(in_channels), list(out_channels)
        strides = list(kwargs.get('featmap_strides', (32, 16, 8)))
        if not len(in_channels) == len(out_channels) == len(strides):
            raise ValueError(f'TinyYOLOV3Head: in_channels {in_channels}, out_channels {out_channels} and '
                             f'featmap_strides {strides} need one entry per scale')
        super().__init__(num_classes, in_channels, out_channels, act_cfg=act_cfg, **kwargs)

    def _init_layers(self) -> None:
        self.convs_bridge = nn.ModuleList()
        self.convs_pred = nn.ModuleList()
        for i in range(self.num_levels):
            self.convs_bridge.append(DepthwiseSeparableConvModule(
                self.in_channels[i], self.out_channels[i], 3, padding=1,
                norm_cfg=self.norm_cfg, act_cfg=self.act_cfg))
            self.convs_pred.append(nn.Conv2d(self.out_channels[i], self.num_base_priors * self.num_attrib, 1))
