"""Model MAC counting agrees with the ArchSpec counters and sees through PatchBasedBackbone."""
import torch

from mcudet.arch import count_macs, get_spec
from mcudet.models.backbones import MCUNetV2Backbone, PatchBasedBackbone
from mcudet.models.complexity import count_model_macs, count_model_params


class _Classifier(torch.nn.Module):
    def __init__(self, backbone, num_classes=1000):
        super().__init__()
        self.backbone = backbone
        self.head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                        torch.nn.Linear(backbone.out_channels[-1], num_classes))

    def extract_feat(self, x):
        return self.backbone(x)[-1]


def test_counts_equal_the_spec_counter_including_classifier():
    spec = get_spec('mcunet-in0')
    model = _Classifier(MCUNetV2Backbone(arch='mcunet-in0'))
    assert count_model_macs(model, (1, 3, 48, 48)) == count_macs(spec)
    assert count_model_params(model) > 0


def test_patch_based_backbone_counts_per_layer_macs():
    plain = MCUNetV2Backbone(arch='mbv2-w0.35')
    wrapped = PatchBasedBackbone(backbone=dict(type='MCUNetV2Backbone', arch='mbv2-w0.35'),
                                 patches='2x2', split=4)
    shape = (1, 3, 96, 96)
    assert count_model_macs(wrapped, shape) == count_model_macs(plain, shape) > 0
