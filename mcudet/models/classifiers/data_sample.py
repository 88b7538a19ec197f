"""ClsDataSample: the label and prediction of one image, as mmpretrain's ``DataSample`` holds them.

Fields (all optional): ``gt_label`` (LongTensor of shape (1,)), ``pred_score`` (float tensor of
the class probabilities), ``pred_label`` (LongTensor of shape (1,)). Image meta information
(``img_path``, ``ori_shape``, ...) lives in the metainfo. The evaluator turns a sample into a dict
with :meth:`to_dict`, which is what :class:`mcudet.evaluation.Accuracy` and ``--out`` dumps read.

Only mmengine, torch and numpy here: the packing transform (datasets) and the classifier
(models) both import it.
"""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Number
from typing import Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement

LabelLike = Union[torch.Tensor, np.ndarray, Sequence, Number]


def format_label(value: LabelLike) -> torch.Tensor:
    """A class index (int, 0-d / 1-d tensor or array, or a sequence of ints) -> LongTensor (N,)."""
    if isinstance(value, (np.ndarray, Sequence)) and not isinstance(value, str):
        value = torch.as_tensor(np.asarray(value))
    elif isinstance(value, Number) and not isinstance(value, bool) and float(value).is_integer():
        value = torch.tensor([int(value)])
    if not isinstance(value, torch.Tensor):
        raise TypeError(f'a class label must be an int, a sequence of ints, an array or a tensor; '
                        f'got {type(value).__name__} {value!r}')
    if value.is_floating_point() or value.dtype == torch.bool:
        raise TypeError(f'a class label must hold integers, got a {value.dtype} tensor; '
                        'pass class indices, not scores or one-hot vectors')
    return value.reshape(-1).long()


class ClsDataSample(BaseDataElement):
    """Ground truth and prediction of one image for classification."""

    def set_gt_label(self, value: LabelLike) -> ClsDataSample:
        """Set ``gt_label`` from a class index (see :func:`format_label`)."""
        self.set_field(format_label(value), 'gt_label', dtype=torch.Tensor)
        return self

    def set_pred_label(self, value: LabelLike) -> ClsDataSample:
        """Set ``pred_label`` from a class index."""
        self.set_field(format_label(value), 'pred_label', dtype=torch.Tensor)
        return self

    def set_pred_score(self, value: torch.Tensor) -> ClsDataSample:
        """Set ``pred_score``: the (num_classes,) probabilities."""
        if not isinstance(value, torch.Tensor) or value.ndim != 1:
            raise TypeError('pred_score must be a 1-d tensor of class probabilities, got '
                            f'{getattr(value, "shape", type(value).__name__)}')
        self.set_field(value, 'pred_score', dtype=torch.Tensor)
        return self
