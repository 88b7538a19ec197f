"""Backbones built from an ArchSpec, the patch-based wrapper, and the official-checkpoint converter."""
from .activation_tracker import ActivationTracker, MeasuredMemory
from .convert import CheckpointMismatchError, convert_mcunet_state_dict, extract_state_dict
from .layers import ConvBNAct, InvertedResidual, SqueezeExcite
from .mcunetv2 import MCUNetV2Backbone, resolve_arch
from .patch_based import PatchBasedBackbone

__all__ = ['MCUNetV2Backbone', 'ConvBNAct', 'InvertedResidual', 'SqueezeExcite', 'resolve_arch',
           'convert_mcunet_state_dict', 'extract_state_dict', 'CheckpointMismatchError',
           'PatchBasedBackbone', 'ActivationTracker', 'MeasuredMemory']
