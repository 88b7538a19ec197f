"""Classification heads with mmpretrain's names and keys: ``ClsHead`` and ``LinearClsHead``.

``LinearClsHead`` keeps its linear layer at ``fc``, so an ``ImageClassifier`` has it at
``head.fc``: the name under which ``tools/model_converters/mcunet_to_mcudet.py`` writes the
classifier of an official MCUNet checkpoint (and mmpretrain checkpoints store theirs).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mcudet.models.classifiers.data_sample import ClsDataSample
from mcudet.registry import MODELS, build_model


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, topk: Sequence[int]) -> list[torch.Tensor]:
    """Percentage of rows whose label is among the ``k`` highest scores, for each ``k``."""
    num_classes = scores.shape[-1]
    maxk = min(max(topk), num_classes)
    top = scores.topk(maxk, dim=-1).indices
    hits = top == labels.reshape(-1, 1)
    return [hits[:, :min(k, num_classes)].any(-1).float().mean() * 100 for k in topk]


@MODELS.register_module()
class ClsHead(BaseModule):
    """Loss and prediction on logits; subclasses compute the logits in :meth:`forward`.

    Args:
        loss: Loss config. Default: ``dict(type='CrossEntropyLoss', loss_weight=1.0)`` (mmdet's
            softmax cross-entropy); with label smoothing
            ``dict(type='LabelSmoothLoss', label_smooth_val=0.1)``.
        topk: The ``k`` of the training accuracies logged when ``cal_acc``.
        cal_acc: Log top-k accuracy of the training batch beside the loss.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 loss: Union[dict, nn.Module, None] = None,
                 topk: Union[int, Sequence[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if loss is None:
            loss = dict(type='CrossEntropyLoss', loss_weight=1.0)
        self.loss_module = build_model(loss) if isinstance(loss, dict) else loss
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or any(not isinstance(k, int) or k < 1 for k in self.topk):
            raise ValueError(f'{type(self).__name__}: topk={topk!r}; give positive ints such as (1, 5)')
        self.cal_acc = cal_acc

    def pre_logits(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The feature the classifier layer reads: the last of the neck's outputs."""
        return feats[-1] if isinstance(feats, (tuple, list)) else feats

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Logits (N, num_classes); the plain head passes the feature through."""
        return self.pre_logits(feats)

    def loss(self, feats: tuple[torch.Tensor, ...], data_samples: list[ClsDataSample],
             **kwargs) -> dict[str, torch.Tensor]:
        """``{'loss': ...}`` (plus ``accuracy_top-k`` when ``cal_acc``) for a batch."""
        cls_score = self(feats)
        if any('gt_label' not in s for s in data_samples):
            raise KeyError(f'{type(self).__name__}.loss: a data sample has no gt_label; training needs '
                           'labelled images (a dataset with labels and PackInputs in the pipeline)')
        target = torch.cat([s.gt_label for s in data_samples]).to(cls_score.device)
        if target.numel() != cls_score.shape[0]:
            raise ValueError(f'{type(self).__name__}.loss: {target.numel()} labels for {cls_score.shape[0]} '
                             'images; a single-label head needs exactly one gt_label per image')
        losses = dict(loss=self.loss_module(cls_score, target, avg_factor=cls_score.size(0), **kwargs))
        if self.cal_acc:
            with torch.no_grad():
                for k, acc in zip(self.topk, topk_accuracy(cls_score, target, self.topk)):
                    losses[f'accuracy_top-{k}'] = acc
        return losses

    def predict(self, feats: tuple[torch.Tensor, ...],
                data_samples: Optional[list[Optional[ClsDataSample]]] = None) -> list[ClsDataSample]:
        """Data samples with ``pred_score`` (softmax) and ``pred_label`` set, one per image."""
        return self._get_predictions(self(feats), data_samples)

    def _get_predictions(self, cls_score: torch.Tensor,
                         data_samples: Optional[list[Optional[ClsDataSample]]]) -> list[ClsDataSample]:
        scores = F.softmax(cls_score, dim=1)
        labels = scores.argmax(dim=1, keepdim=True)
        if data_samples is None:
            data_samples = [None] * scores.shape[0]
        out = []
        for sample, score, label in zip(data_samples, scores, labels):
            sample = ClsDataSample() if sample is None else sample
            out.append(sample.set_pred_score(score).set_pred_label(label))
        return out


@MODELS.register_module()
class LinearClsHead(ClsHead):
    """Dropout and a linear layer on the pooled feature: the MCUNet / ProxylessNAS classifier.

    Args:
        num_classes: Outputs (1000 for ImageNet, 2 for Visual Wake Words).
        in_channels: Width of the pooled feature (the backbone's last ``out_channels``).
        dropout_rate: Dropout before ``fc`` in training (the zoo's ``classifier.dropout``; 0 turns
            it off). mmpretrain's ``LinearClsHead`` has no such key; its configs leave it out.
        init_cfg: mmengine init config. None: normal(0, 0.01) for ``fc``, as mmpretrain's default.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of :class:`ClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_rate: float = 0.0,
                 init_cfg: Optional[Union[dict, list]] = None,
                 **kwargs) -> None:
        if init_cfg is None:
            init_cfg = dict(type='Normal', layer='Linear', std=0.01)
        super().__init__(init_cfg=init_cfg, **kwargs)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'LinearClsHead: num_classes={num_classes!r}; give a positive int')
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'LinearClsHead: in_channels={in_channels!r}; give the width of the backbone '
                             'output (MCUNetV2Backbone(...).out_channels[-1])')
        if not 0 <= dropout_rate < 1:
            raise ValueError(f'LinearClsHead: dropout_rate={dropout_rate}; use a value in [0, 1)')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout_rate = dropout_rate
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = self.pre_logits(feats)
        if x.ndim != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f'LinearClsHead: expected pooled features (N, {self.in_channels}), got '
                             f'{tuple(x.shape)}; put a GlobalAveragePooling neck before the head and set '
                             'in_channels to the backbone output width')
        return self.fc(self.dropout(x))
