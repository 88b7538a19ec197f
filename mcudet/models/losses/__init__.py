"""Losses mmdet lacks: label smoothing for the classifiers."""
from .label_smooth_loss import LabelSmoothLoss

__all__ = ['LabelSmoothLoss']
