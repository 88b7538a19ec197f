"""ClsDataPreprocessor: stack, convert BGR to RGB and normalise a batch of images (mmpretrain's keys)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from mmengine.model import ImgDataPreprocessor

from mcudet.registry import MODELS


@MODELS.register_module()
class ClsDataPreprocessor(ImgDataPreprocessor):
    """mmengine's ``ImgDataPreprocessor`` under mmpretrain's name and keys.

    The data samples pass through unchanged (moved to the model's device).

    Args:
        mean: Per-channel mean, in the channel order after ``to_rgb``. The official MCUNet
            checkpoints expect ``[127.5] * 3`` with ``std=[127.5] * 3`` (inputs in [-1, 1]).
        std: Per-channel standard deviation.
        pad_size_divisor: Pad the batch so that height and width divide by this.
        pad_value: Value of the padding.
        to_rgb: Convert the loaded BGR images to RGB.
        num_classes: Accepted for mmpretrain configs; only batch augments (not implemented
            here) use it.
        batch_augments: mmpretrain's Mixup / CutMix; not implemented in mcudet, so only None.
    """

    def __init__(self,
                 mean: Optional[Sequence[Union[float, int]]] = None,
                 std: Optional[Sequence[Union[float, int]]] = None,
                 pad_size_divisor: int = 1,
                 pad_value: Union[float, int] = 0,
                 to_rgb: bool = False,
                 num_classes: Optional[int] = None,
                 batch_augments: Optional[dict] = None) -> None:
        if batch_augments is not None:
            raise NotImplementedError(
                f'ClsDataPreprocessor: batch_augments={batch_augments!r}; mcudet implements no batch '
                'augments (Mixup, CutMix). Remove model.data_preprocessor.batch_augments and '
                'model.train_cfg.augments from the config')
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor, pad_value=pad_value,
                         bgr_to_rgb=to_rgb)
        self.num_classes = num_classes
