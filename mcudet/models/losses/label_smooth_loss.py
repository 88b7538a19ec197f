"""LabelSmoothLoss: cross-entropy against smoothed one-hot targets (mmpretrain's name and keys)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mcudet.registry import MODELS

_MODES = ('original', 'classy_vision')
_REDUCTIONS = ('none', 'mean', 'sum')


@MODELS.register_module()
class LabelSmoothLoss(nn.Module):
    """Cross-entropy with label smoothing (Szegedy et al. 2016), as the MCUNet recipes use it.

    With ``eps = label_smooth_val`` and ``K`` classes the target of class ``y`` is

    - ``'original'``: ``(1 - eps) * onehot(y) + eps / K`` (PyTorch's ``label_smoothing``);
    - ``'classy_vision'``: ``(onehot(y) + eps / K) / (1 + eps)``.

    Args:
        label_smooth_val: ``eps`` in [0, 1).
        num_classes: Checked against the logits when given.
        mode: ``'original'`` or ``'classy_vision'``.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight: Multiplies the loss.
    """

    def __init__(self,
                 label_smooth_val: float,
                 num_classes: Optional[int] = None,
                 mode: str = 'original',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 <= label_smooth_val < 1:
            raise ValueError(f'LabelSmoothLoss: label_smooth_val={label_smooth_val}; use a value in [0, 1) '
                             '(0.1 in the MCUNet / ProxylessNAS recipes)')
        if mode not in _MODES:
            raise ValueError(f'LabelSmoothLoss: mode={mode!r}; use one of {_MODES} (mcudet implements no '
                             "'multi_label' mode)")
        if reduction not in _REDUCTIONS:
            raise ValueError(f'LabelSmoothLoss: reduction={reduction!r}; use one of {_REDUCTIONS}')
        self.label_smooth_val = float(label_smooth_val)
        self.num_classes = num_classes
        self.mode = mode
        self.reduction = reduction
        self.loss_weight = loss_weight

    def smooth_targets(self, label: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
        """The (N, K) soft targets of integer labels (N,)."""
        eps = self.label_smooth_val
        onehot = F.one_hot(label.long(), num_classes).to(dtype)
        if self.mode == 'original':
            return onehot * (1 - eps) + eps / num_classes
        return (onehot + eps / num_classes) / (1 + eps)

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Loss of logits (N, K) against integer labels (N,).

        Args:
            cls_score: Logits.
            label: Class indices.
            weight: Optional per-sample weights (N,).
            avg_factor: Divide the summed loss by this instead of N for ``'mean'``.
            reduction_override: Overrides ``reduction`` for this call.
        """
        num_classes = cls_score.shape[-1]
        if self.num_classes is not None and self.num_classes != num_classes:
            raise ValueError(f'LabelSmoothLoss: num_classes={self.num_classes} but the logits have '
                             f'{num_classes} classes')
        if label.ndim != 1 or label.shape[0] != cls_score.shape[0]:
            raise ValueError(f'LabelSmoothLoss: labels of shape {tuple(label.shape)} for logits of shape '
                             f'{tuple(cls_score.shape)}; give one class index per sample')
        reduction = reduction_override or self.reduction
        if reduction not in _REDUCTIONS:
            raise ValueError(f'LabelSmoothLoss: reduction_override={reduction!r}; use one of {_REDUCTIONS}')
        target = self.smooth_targets(label, num_classes, cls_score.dtype)
        loss = -(target * F.log_softmax(cls_score, dim=-1)).sum(-1)
        if weight is not None:
            loss = loss * weight.to(loss.dtype)
        if reduction == 'sum':
            loss = loss.sum()
        elif reduction == 'mean':
            loss = loss.sum() / (avg_factor if avg_factor is not None else loss.numel())
        return self.loss_weight * loss
