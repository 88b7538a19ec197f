"""Accuracy: top-k accuracy of single-label classification (mmpretrain's name, keys and output)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mcudet.registry import METRICS


def _as_tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (np.ndarray, Sequence, int)):
        return torch.as_tensor(value)
    raise TypeError(f'Accuracy: {what} must be a tensor, array or int, got {type(value).__name__}')


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy in percent, reported as ``accuracy/top1``, ``accuracy/top5``, ...

    A prediction is correct at ``k`` when the true class is among the ``k`` highest scores and
    (with ``thrs``) its score exceeds the threshold. Samples are the dicts of
    :class:`~mcudet.models.classifiers.ClsDataSample` (``pred_score``, ``gt_label``); a
    sample with only ``pred_label`` counts for top-1.

    Args:
        topk: The ``k`` values, e.g. ``(1, 5)`` for ImageNet, ``(1,)`` for two classes.
        thrs: Score threshold(s); None or 0. for none. With several thresholds the keys become
            ``top1_thr-0.50`` and so on, as in mmpretrain.
        collect_device: 'cpu' or 'gpu' for collecting results across ranks.
        prefix: Key prefix; default ``'accuracy'``.
    """

    default_prefix: Optional[str] = 'accuracy'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, ),
                 thrs: Union[None, float, Sequence[Optional[float]]] = 0.,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or any(not isinstance(k, int) or k < 1 for k in self.topk):
            raise ValueError(f'Accuracy: topk={topk!r}; give positive ints such as (1, 5)')
        self.thrs = (thrs, ) if thrs is None or isinstance(thrs, (int, float)) else tuple(thrs)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'gt_label' not in sample:
                raise KeyError('Accuracy: a prediction has no gt_label; evaluate on a labelled dataset '
                               '(PackInputs packs gt_label when the dataset has labels)')
            result = dict(gt_label=_as_tensor(sample['gt_label'], 'gt_label').reshape(-1).cpu())
            if 'pred_score' in sample:
                result['pred_score'] = _as_tensor(sample['pred_score'], 'pred_score').reshape(-1).cpu()
            elif 'pred_label' in sample:
                result['pred_label'] = _as_tensor(sample['pred_label'], 'pred_label').reshape(-1).cpu()
            else:
                raise KeyError('Accuracy: a prediction has neither pred_score nor pred_label')
            self.results.append(result)

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        labels = torch.cat([r['gt_label'][:1] for r in results])
        if all('pred_score' in r for r in results):
            scores = torch.stack([r['pred_score'] for r in results]).float()
            table = self.calculate(scores, labels, self.topk, self.thrs)
        else:
            if self.topk != (1, ):
                raise ValueError(f'Accuracy: topk={self.topk} needs pred_score in every prediction; '
                                 'some have only pred_label')
            preds = torch.cat([r['pred_label'][:1] if 'pred_label' in r
                               else r['pred_score'].argmax(-1, keepdim=True) for r in results])
            table = [[float((preds == labels).float().mean() * 100)] * len(self.thrs)]
        out = {}
        for k, row in zip(self.topk, table):
            for thr, value in zip(self.thrs, row):
                name = f'top{k}' if len(self.thrs) == 1 else f'top{k}_thr-{thr or 0.:.2f}'
                out[name] = value
        return out

    @staticmethod
    def calculate(scores: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, ),
                  thrs: Sequence[Optional[float]] = (0., )) -> list[list[float]]:
        """Accuracy (%) per ``k`` (rows) and threshold (columns) of scores (N, C) and labels (N,)."""
        if scores.ndim != 2 or labels.shape != (scores.shape[0], ):
            raise ValueError(f'Accuracy: scores {tuple(scores.shape)} and labels {tuple(labels.shape)}; '
                             'need (N, C) and (N,)')
        num_classes = scores.shape[1]
        if max(topk) > num_classes:
            raise ValueError(f'Accuracy: topk={tuple(topk)} but the predictions have {num_classes} classes; '
                             f'use k <= {num_classes} (e.g. topk=(1,) for Visual Wake Words)')
        values, indices = scores.topk(max(topk), dim=1)
        hits = indices == labels.reshape(-1, 1)
        table = []
        for k in topk:
            row = []
            for thr in thrs:
                ok = hits[:, :k] & (values[:, :k] > thr) if thr is not None else hits[:, :k]
                row.append(float(ok.any(dim=1).float().mean() * 100))
            table.append(row)
        return table
