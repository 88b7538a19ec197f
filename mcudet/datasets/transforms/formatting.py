"""PackInputs: the last step of a classification pipeline (mmpretrain's name and keys)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mcudet.models.classifiers.data_sample import ClsDataSample
from mcudet.registry import TRANSFORMS


@TRANSFORMS.register_module(name=['PackInputs', 'PackClsInputs'])
class PackInputs(BaseTransform):
    """Pack the image as a (C, H, W) tensor and the label and meta data as a :class:`ClsDataSample`.

    Returns ``dict(inputs=tensor, data_samples=ClsDataSample)``; ``ClsDataPreprocessor`` converts,
    normalises and stacks a batch of them. Also registered as ``PackClsInputs`` (mmcls 1.x).

    Args:
        input_key: Key of the image in the results.
        algorithm_keys: Result keys copied into the data sample's data fields (besides ``gt_label``).
        meta_keys: Result keys copied into the data sample's metainfo when present.
    """

    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                         'flip_direction')

    def __init__(self, input_key: str = 'img', algorithm_keys: Sequence[str] = (),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.input_key = input_key
        self.algorithm_keys = tuple(algorithm_keys)
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def format_input(img: np.ndarray) -> torch.Tensor:
        """(H, W[, C]) array -> contiguous (C, H, W) tensor of the same dtype."""
        if isinstance(img, torch.Tensor):
            return img
        if not isinstance(img, np.ndarray):
            raise TypeError(f'PackInputs: the image must be a numpy array, got {type(img).__name__}')
        if img.ndim == 2:
            img = img[..., None]
        if img.ndim != 3:
            raise ValueError(f'PackInputs: expected an (H, W, C) image, got shape {img.shape}')
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    def transform(self, results: dict) -> dict:
        if self.input_key not in results:
            raise KeyError(f'PackInputs: no {self.input_key!r} in the results; load the image first '
                           "(dict(type='LoadImageFromFile'))")
        sample = ClsDataSample()
        if results.get('gt_label') is not None:
            sample.set_gt_label(results['gt_label'])
        for key in self.algorithm_keys:
            if key in results:
                sample.set_field(results[key], key)
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=self.format_input(results[self.input_key]), data_samples=sample)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_key={self.input_key!r}, algorithm_keys={self.algorithm_keys}, '
                f'meta_keys={self.meta_keys})')
