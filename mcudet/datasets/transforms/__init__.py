"""Classification transforms mmcv lacks (mmpretrain's names): crops, resizes, colour jitter, packing."""
from .formatting import PackInputs
from .processing import ColorJitter, RandomResizedCrop, ResizeEdge

__all__ = ['PackInputs', 'ColorJitter', 'RandomResizedCrop', 'ResizeEdge']
