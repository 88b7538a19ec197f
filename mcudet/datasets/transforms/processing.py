"""Classification transforms that mmcv lacks, with mmpretrain's names and keys.

``RandomResizedCrop`` and ``ColorJitter`` are the ImageNet training augmentation of MobileNetV2,
ProxylessNAS and MCUNet; ``ResizeEdge`` + mmcv's ``CenterCrop`` are the evaluation resize
(short side ``resolution * 256 / 224``, then a centred ``resolution`` crop). Images are
(H, W, C) uint8 arrays in BGR order, as mmcv's ``LoadImageFromFile`` gives them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mcudet.registry import TRANSFORMS

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')
_BACKENDS = ('cv2', 'pillow')


def _pair(scale: Union[int, Sequence[int]], name: str) -> tuple[int, int]:
    """``scale`` as (h, w)."""
    if isinstance(scale, int) and not isinstance(scale, bool) and scale > 0:
        return scale, scale
    if (isinstance(scale, Sequence) and len(scale) == 2
            and all(isinstance(s, int) and s > 0 for s in scale)):
        return int(scale[0]), int(scale[1])
    raise ValueError(f'{name}: scale={scale!r}; give a positive int or a pair (h, w)')


def _check_resize_args(name: str, interpolation: str, backend: str) -> None:
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f'{name}: interpolation={interpolation!r}; use one of {_INTERPOLATIONS}')
    if backend not in _BACKENDS:
        raise ValueError(f'{name}: backend={backend!r}; use one of {_BACKENDS}')


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random area and aspect ratio of the image and resize it to ``scale`` (Inception crop).

    The area is drawn uniformly from ``crop_ratio_range`` times the image area and the aspect
    ratio log-uniformly from ``aspect_ratio_range``; after ``max_attempts`` draws that do not
    fit, the largest centred crop whose aspect ratio lies in the range is taken.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``.

    Args:
        scale: Output (h, w), or one int for a square.
        crop_ratio_range: Range of the crop area as a fraction of the image area.
        aspect_ratio_range: Range of the crop's width / height.
        max_attempts: Random draws before the centred fallback.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos'.
        backend: 'cv2' or 'pillow' (mmcv.imresize).
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]],
                 crop_ratio_range: tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        self.scale = _pair(scale, 'RandomResizedCrop')
        lo, hi = crop_ratio_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(f'RandomResizedCrop: crop_ratio_range={crop_ratio_range!r}; need '
                             '0 < min <= max <= 1')
        if not 0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(f'RandomResizedCrop: aspect_ratio_range={aspect_ratio_range!r}; need '
                             '0 < min <= max')
        if not isinstance(max_attempts, int) or max_attempts < 0:
            raise ValueError(f'RandomResizedCrop: max_attempts={max_attempts!r}; give an int >= 0')
        _check_resize_args('RandomResizedCrop', interpolation, backend)
        self.crop_ratio_range = (float(lo), float(hi))
        self.aspect_ratio_range = (float(aspect_ratio_range[0]), float(aspect_ratio_range[1]))
        self.max_attempts = max_attempts
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def crop_params(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, left, crop_h, crop_w) of one random crop of an h x w image."""
        area = h * w
        log_lo, log_hi = math.log(self.aspect_ratio_range[0]), math.log(self.aspect_ratio_range[1])
        for _ in range(self.max_attempts):
            target = np.random.uniform(*self.crop_ratio_range) * area
            ratio = math.exp(np.random.uniform(log_lo, log_hi))
            cw = int(round(math.sqrt(target * ratio)))
            ch = int(round(math.sqrt(target / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                return np.random.randint(0, h - ch + 1), np.random.randint(0, w - cw + 1), ch, cw
        ratio = w / h  # fallback: the largest centred crop with an allowed aspect ratio
        if ratio < self.aspect_ratio_range[0]:
            cw, ch = w, int(round(w / self.aspect_ratio_range[0]))
        elif ratio > self.aspect_ratio_range[1]:
            ch, cw = h, int(round(h * self.aspect_ratio_range[1]))
        else:
            ch, cw = h, w
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, left, ch, cw = self.crop_params(*img.shape[:2])
        img = img[top:top + ch, left:left + cw]
        img = mmcv.imresize(img, (self.scale[1], self.scale[0]), interpolation=self.interpolation,
                            backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, crop_ratio_range={self.crop_ratio_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, max_attempts={self.max_attempts}, '
                f'interpolation={self.interpolation!r}, backend={self.backend!r})')


@TRANSFORMS.register_module()
class ResizeEdge(BaseTransform):
    """Resize so that one edge equals ``scale``, keeping the aspect ratio.

    The other edge is ``int(scale * other / edge)`` (truncated, as torchvision's ``Resize(int)``
    that the official MCUNet evaluation uses).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``; added: ``scale``,
    ``scale_factor`` (w, h).

    Args:
        scale: Length of the chosen edge after resizing.
        edge: 'short', 'long', 'width' or 'height'.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos'.
        backend: 'cv2' or 'pillow'; 'pillow' bilinear antialiases when it shrinks, as the
            torchvision (PIL) evaluation of the official checkpoints does.
    """

    _EDGES = ('short', 'long', 'width', 'height')

    def __init__(self, scale: int, edge: str = 'short', interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
            raise ValueError(f'ResizeEdge: scale={scale!r}; give the edge length in pixels (an int)')
        if edge not in self._EDGES:
            raise ValueError(f'ResizeEdge: edge={edge!r}; use one of {self._EDGES}')
        _check_resize_args('ResizeEdge', interpolation, backend)
        self.scale = scale
        self.edge = edge
        self.interpolation = interpolation
        self.backend = backend

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        """(width, height) after resizing an h x w image."""
        by_width = (self.edge == 'width' or (self.edge == 'short' and w < h)
                    or (self.edge == 'long' and w > h))
        if by_width:
            return self.scale, int(self.scale * h / w)
        return int(self.scale * w / h), self.scale

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        size = self.target_size(h, w)
        img = mmcv.imresize(img, size, interpolation=self.interpolation, backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['scale'] = size
        results['scale_factor'] = (size[0] / w, size[1] / h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, edge={self.edge!r}, '
                f'interpolation={self.interpolation!r}, backend={self.backend!r})')


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Randomly change brightness, contrast, saturation and hue, in a random order.

    Factors follow torchvision: brightness, contrast and saturation multiply by a factor drawn
    from ``[1 - x, 1 + x]``; hue shifts by a fraction of the colour wheel in ``[-hue, hue]``.
    ProxylessNAS and MCUNet train ImageNet with ``brightness=32/255, saturation=0.5``.

    Required keys: ``img`` (BGR uint8). Modified keys: ``img``.

    Args:
        brightness: Non-negative; 0 leaves brightness alone.
        contrast: Non-negative.
        saturation: Non-negative.
        hue: In [0, 0.5].
    """

    def __init__(self, brightness: float = 0., contrast: float = 0., saturation: float = 0.,
                 hue: float = 0.) -> None:
        for name, value in (('brightness', brightness), ('contrast', contrast), ('saturation', saturation)):
            if value < 0:
                raise ValueError(f'ColorJitter: {name}={value}; use a value >= 0')
        if not 0 <= hue <= 0.5:
            raise ValueError(f'ColorJitter: hue={hue}; use a value in [0, 0.5]')
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)

    @cache_randomness
    def draw(self) -> list[tuple[str, float]]:
        """The operations of one call, in order, with their factors."""
        ops = []
        for name in np.random.permutation(['brightness', 'contrast', 'saturation', 'hue']):
            amount = getattr(self, str(name))
            if amount <= 0:
                continue
            low, high = (-amount, amount) if name == 'hue' else (max(0., 1 - amount), 1 + amount)
            ops.append((str(name), float(np.random.uniform(low, high))))
        return ops

    @staticmethod
    def _blend(img: np.ndarray, other: Union[np.ndarray, float], factor: float) -> np.ndarray:
        return np.clip(factor * img + (1 - factor) * other, 0, 255)

    def transform(self, results: dict) -> dict:
        ops = self.draw()
        if not ops:
            return results
        img = results['img']
        dtype = img.dtype
        img = img.astype(np.float32)
        for name, factor in ops:
            if name == 'brightness':
                img = self._blend(img, 0., factor)
            elif name in ('contrast', 'saturation'):
                gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None]
                img = self._blend(img, float(gray.mean()) if name == 'contrast' else gray, factor)
            else:  # hue: rotate H in HSV; OpenCV's float HSV has H in degrees [0, 360)
                hsv = cv2.cvtColor(img / 255., cv2.COLOR_BGR2HSV)
                hsv[..., 0] = (hsv[..., 0] + factor * 360.) % 360.
                img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255.
        results['img'] = np.clip(np.round(img), 0, 255).astype(dtype)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness={self.brightness}, contrast={self.contrast}, '
                f'saturation={self.saturation}, hue={self.hue})')
