"""The int8 input: the data preprocessor's normalisation folded into one scale and zero point."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .fake_quant import tag


class InputQuant(nn.Module):
    """The int8 input: the data preprocessor's mean / std folded into one scale and zero point.

    The preprocessor computes ``x = (p - mean) / std`` from raw pixels ``p`` in 0..255.
    The MCU feeds ``q = p - 128`` as int8 (the uint8 pixel with its top bit flipped), and
    the graph input says ``real = scale * (q - zero_point)`` with ``scale = 1 / std`` and
    ``zero_point = round(mean) - 128``. That is exact when ``mean`` is an integer; for
    the usual ``mean = 127.5`` the integer model sees ``(p - 128) / 127.5``, half a pixel
    level (0.2 % of the range) off the float model's ``(p - 127.5) / 127.5``, a shift
    that calibration and QAT absorb. This module computes exactly the integer model's
    input: it recovers ``p = x * std + mean`` and requantizes.

    Channel order: the preprocessor's ``bgr_to_rgb`` runs before this module, so the
    graph input is in the order the model was trained on (RGB when ``bgr_to_rgb=True``);
    :func:`~mcudet.quantization.lowering.lower_to_ir` can reorder the first convolution
    for an MCU whose camera delivers the other order.

    Args:
        mean: The preprocessor's mean (all channels equal).
        std: The preprocessor's std (all channels equal).
        channel_order: 'RGB' or 'BGR': the order of the channels this module receives.
    """

    def __init__(self, mean: float = 127.5, std: float = 127.5, channel_order: str = 'RGB') -> None:
        super().__init__()
        if std <= 0:
            raise ValueError(f'InputQuant: std={std} must be positive')
        self.mean, self.std = float(mean), float(std)
        self.channel_order = channel_order
        self.zero_point = int(np.floor(self.mean + 0.5)) - 128
        if not -128 <= self.zero_point <= 127:
            raise ValueError(f'InputQuant: mean={mean} is outside the pixel range 0..255')
        self.scale = float(np.float32(1.0 / self.std))
        self.register_buffer('_scale', torch.tensor([self.scale], dtype=torch.float32), persistent=False)
        self.register_buffer('_zp', torch.tensor([self.zero_point], dtype=torch.int32), persistent=False)

    @classmethod
    def from_preprocessor(cls, pre: nn.Module, where: str = 'data_preprocessor') -> InputQuant:
        """From an mmengine ``ImgDataPreprocessor`` (``DetDataPreprocessor``, ``ClsDataPreprocessor``)."""
        if getattr(pre, '_enable_normalize', False):
            mean = pre.mean.detach().reshape(-1).float()
            std = pre.std.detach().reshape(-1).float()
        else:
            mean, std = torch.zeros(1), torch.ones(1)
        if not (torch.all(mean == mean[0]) and torch.all(std == std[0])):
            raise NotImplementedError(
                f'{where}: mean {mean.tolist()} / std {std.tolist()} differ per channel; an int8 input has '
                'one scale and zero point, so use equal values (the MCUNet recipe: mean=std=[127.5]*3)')
        order = 'RGB' if getattr(pre, '_channel_conversion', False) else 'BGR'
        return cls(float(mean[0]), float(std[0]), order)

    def qparams(self) -> tuple[float, int]:
        return self.scale, self.zero_point

    def int8(self, x: torch.Tensor) -> torch.Tensor:
        """The int8 values the MCU feeds for preprocessed ``x`` (int64 tensor in [-128, 127])."""
        p = torch.round(x.detach() * self.std + self.mean)
        return (p - 128).clamp(-128, 127).to(torch.int64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.int8(x).to(x.dtype)
        return tag((q - self.zero_point) * self._scale, self._scale, self._zp)

    def extra_repr(self) -> str:
        return (f'mean={self.mean}, std={self.std}, scale={self.scale:.6g}, zero_point={self.zero_point}, '
                f'channel_order={self.channel_order!r}')
