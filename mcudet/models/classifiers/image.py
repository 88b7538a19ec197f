"""ImageClassifier: backbone, neck (global pooling), head; mmpretrain's class, keys and modes.

A config written for mmpretrain's ``ImageClassifier`` builds here unchanged as long as its
parts exist in mcudet (``MCUNetV2Backbone`` or ``PatchBasedBackbone``, mmdet's
``GlobalAveragePooling``, ``LinearClsHead``, ``CrossEntropyLoss`` / ``LabelSmoothLoss``).
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from mmengine.model import BaseModel
from torch import nn

from mcudet.registry import MODELS, build_model

from .data_sample import ClsDataSample

_STAGES = ('backbone', 'neck', 'pre_logits')


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """Image classifier: ``head(neck(backbone(x)))``.

    ``forward(inputs, data_samples, mode)`` follows mmengine: ``'tensor'`` returns the logits
    (N, num_classes), ``'loss'`` a dict of losses, ``'predict'`` one :class:`ClsDataSample` per
    image with ``pred_score`` (softmax) and ``pred_label``.

    Args:
        backbone: Backbone config, e.g. ``dict(type='MCUNetV2Backbone', arch='mcunet-in2')``.
        neck: Neck config; ``dict(type='GlobalAveragePooling')`` for the MCUNet classifiers.
        head: Head config, e.g. ``dict(type='LinearClsHead', num_classes=1000, in_channels=160)``.
        pretrained: mmpretrain's shortcut for ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
        train_cfg: mmpretrain's; only ``augments=None`` is supported (no Mixup / CutMix here).
        data_preprocessor: Config of the preprocessor; a dict without ``type`` becomes a
            ``ClsDataPreprocessor``.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        if pretrained is not None:
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        if train_cfg and train_cfg.get('augments') is not None:
            raise NotImplementedError(
                f'ImageClassifier: train_cfg.augments={train_cfg["augments"]!r}; mcudet implements no batch '
                'augments (Mixup, CutMix); remove model.train_cfg.augments')
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClsDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here, in mcudet's registry, so that the default scope need not be set.
            data_preprocessor = build_model({'type': 'ClsDataPreprocessor', **data_preprocessor})
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = build_model(backbone) if isinstance(backbone, dict) else backbone
        self.neck = build_model(neck) if isinstance(neck, dict) else neck
        self.head = build_model(head) if isinstance(head, dict) else head

    @property
    def with_neck(self) -> bool:
        return self.neck is not None

    @property
    def with_head(self) -> bool:
        return self.head is not None

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list[ClsDataSample]] = None,
                mode: str = 'tensor'):
        """Logits (``'tensor'``), losses (``'loss'``) or predicted samples (``'predict'``)."""
        if mode == 'tensor':
            feats = self.extract_feat(inputs)
            return self.head(feats) if self.with_head else feats
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'ImageClassifier: invalid mode {mode!r}; use "tensor", "loss" or "predict"')

    def extract_feat(self, inputs: torch.Tensor, stage: str = 'neck'):
        """Features after ``stage``: ``'backbone'``, ``'neck'`` or ``'pre_logits'`` (what ``fc`` reads)."""
        if stage not in _STAGES:
            raise ValueError(f'ImageClassifier.extract_feat: stage={stage!r}; use one of {_STAGES}')
        x = self.backbone(inputs)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = self.neck(x)
        if stage == 'neck':
            return x
        if not self.with_head or not hasattr(self.head, 'pre_logits'):
            raise ValueError("ImageClassifier.extract_feat: stage='pre_logits' needs a head with pre_logits")
        return self.head.pre_logits(x)

    def loss(self, inputs: torch.Tensor, data_samples: list[ClsDataSample]) -> dict[str, torch.Tensor]:
        """Losses of a batch with ``gt_label`` in every sample."""
        if not self.with_head:
            raise RuntimeError('ImageClassifier.loss: the model has no head; configure model.head')
        return self.head.loss(self.extract_feat(inputs), data_samples)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[list[ClsDataSample]] = None) -> list[ClsDataSample]:
        """One sample per image with ``pred_score`` and ``pred_label``."""
        if not self.with_head:
            raise RuntimeError('ImageClassifier.predict: the model has no head; configure model.head')
        return self.head.predict(self.extract_feat(inputs), data_samples)
