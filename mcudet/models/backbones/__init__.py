"""Backbones built from an ArchSpec, and the official-checkpoint converter."""
from .convert import CheckpointMismatchError, convert_mcunet_state_dict, extract_state_dict
from .layers import ConvBNAct, InvertedResidual, SqueezeExcite
from .mcunetv2 import MCUNetV2Backbone, resolve_arch

__all__ = ['MCUNetV2Backbone', 'ConvBNAct', 'InvertedResidual', 'SqueezeExcite', 'resolve_arch',
           'convert_mcunet_state_dict', 'extract_state_dict', 'CheckpointMismatchError']
