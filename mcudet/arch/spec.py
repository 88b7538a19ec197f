"""ArchSpec: the single description of a network that every consumer reads.

The PyTorch backbone, the MAC counter, the memory model, the patch planner and the
search all work from these dataclasses. Channels are concrete numbers (a width
multiplier is applied when a spec is built, see :mod:`mcudet.arch.builders`).
No torch here.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

ACTIVATIONS = ('relu', 'relu6', None)
DW_KERNELS = (1, 3, 5, 7)


class SpecError(ValueError):
    """An architecture description that cannot be built; the message names the field."""


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10 % down.

    This is the rounding of MobileNetV2, ProxylessNAS and MCUNet (and of mmdet's
    ``make_divisible``), so width multipliers give the published channel counts.
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def conv_out_size(size: int, kernel: int, stride: int, padding: Optional[int] = None) -> int:
    """Output side of a convolution with PyTorch's symmetric padding (``kernel // 2``)."""
    pad = kernel // 2 if padding is None else padding
    return (size + 2 * pad - kernel) // stride + 1


@dataclass(frozen=True)
class ConvSpec:
    """A dense convolution + batch norm + activation (the stem, the feature-mix layer).

    Args:
        out_channels: Output channels.
        kernel_size: Square kernel side (odd).
        stride: 1 or 2.
        act: 'relu', 'relu6' or None.
    """

    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    act: Optional[str] = 'relu6'


@dataclass(frozen=True)
class BlockSpec:
    """A mobile inverted residual block: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 project.

    Args:
        out_channels: Output channels of the linear 1x1 projection.
        kernel_size: Depthwise kernel: 1, 3, 5 or 7.
        expand_ratio: Expansion of the hidden width; 1 means no expand conv.
        stride: Depthwise stride, 1 or 2.
        mid_channels: Hidden width when it is not ``round(in * expand_ratio)`` (the
            ProxylessNAS JSON files give it explicitly).
        se_ratio: Squeeze-excite reduction (hidden = make_divisible(mid * se_ratio));
            0 disables SE.
        act: Activation after expand and depthwise ('relu' or 'relu6').
        shortcut: Residual add. None means "where shapes allow" (stride 1, in == out).
    """

    out_channels: int
    kernel_size: int = 3
    expand_ratio: float = 6
    stride: int = 1
    mid_channels: Optional[int] = None
    se_ratio: float = 0.0
    act: Optional[str] = 'relu6'
    shortcut: Optional[bool] = None

    def hidden_channels(self, in_channels: int) -> int:
        """Width of the expanded (depthwise) tensor for a given input width."""
        if self.mid_channels is not None:
            return self.mid_channels
        return int(round(in_channels * self.expand_ratio))

    def has_expand(self, in_channels: int) -> bool:
        return self.expand_ratio != 1 or self.hidden_channels(in_channels) != in_channels

    def has_residual(self, in_channels: int) -> bool:
        fits = self.stride == 1 and in_channels == self.out_channels
        return fits if self.shortcut is None else (self.shortcut and fits)

    def se_channels(self, in_channels: int) -> int:
        if self.se_ratio <= 0:
            return 0
        # Floor before rounding, as the official MCUNet/ProxylessNAS SE does (make_divisible(mid // 4)):
        # rounding mid * 0.25 directly differs for mid = 107 or 143 and breaks checkpoint conversion.
        return make_divisible(int(self.hidden_channels(in_channels) * self.se_ratio), 8)


@dataclass(frozen=True)
class ClassifierSpec:
    """Global average pooling, dropout and a linear layer."""

    num_classes: int
    dropout: float = 0.0


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem, inverted residual blocks, optional feature mix and classifier.

    Args:
        name: Human-readable name (the zoo key for zoo specs).
        stem: First dense convolution.
        blocks: Inverted residual blocks in order.
        resolution: Default input side (square).
        in_channels: Input image channels.
        feature_mix: Optional 1x1 convolution after the last block.
        classifier: Optional classification head.
    """

    name: str
    stem: ConvSpec
    blocks: tuple[BlockSpec, ...]
    resolution: int = 224
    in_channels: int = 3
    feature_mix: Optional[ConvSpec] = None
    classifier: Optional[ClassifierSpec] = None
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'blocks', tuple(self.blocks))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`SpecError` naming the first bad field."""
        where = f'ArchSpec {self.name!r}'
        convs = [('stem', self.stem)] + ([('feature_mix', self.feature_mix)] if self.feature_mix else [])
        for label, conv in convs:
            if conv.kernel_size < 1 or conv.kernel_size % 2 == 0:
                raise SpecError(f'{where}: {label}.kernel_size={conv.kernel_size}; '
                                'use an odd kernel (1, 3, 5, 7)')
            if conv.stride not in (1, 2):
                raise SpecError(f'{where}: {label}.stride={conv.stride}; only 1 and 2 are supported')
            if conv.act not in ACTIVATIONS:
                raise SpecError(f'{where}: {label}.act={conv.act!r}; use one of {ACTIVATIONS}')
            if conv.out_channels < 1:
                raise SpecError(f'{where}: {label}.out_channels={conv.out_channels} must be positive')
        if not self.blocks:
            raise SpecError(f'{where}: blocks is empty; a spec needs at least one block')
        for i, b in enumerate(self.blocks):
            if b.kernel_size not in DW_KERNELS:
                raise SpecError(f'{where}: blocks[{i}].kernel_size={b.kernel_size}; use one of {DW_KERNELS}')
            if b.stride not in (1, 2):
                raise SpecError(f'{where}: blocks[{i}].stride={b.stride}; only 1 and 2 are supported')
            if b.act not in ACTIVATIONS:
                raise SpecError(f'{where}: blocks[{i}].act={b.act!r}; use one of {ACTIVATIONS}')
            if b.out_channels < 1 or b.expand_ratio <= 0:
                raise SpecError(f'{where}: blocks[{i}] needs out_channels >= 1 and expand_ratio > 0')
        if self.resolution < 1 or self.in_channels < 1:
            raise SpecError(f'{where}: resolution and in_channels must be positive')

    # ------------------------------------------------------------------ shapes
    def block_in_channels(self) -> list[int]:
        """Input channels of each block."""
        chans, c = [], self.stem.out_channels
        for b in self.blocks:
            chans.append(c)
            c = b.out_channels
        return chans

    @property
    def out_channels(self) -> int:
        """Channels of the last feature map (before the classifier)."""
        if self.feature_mix is not None:
            return self.feature_mix.out_channels
        return self.blocks[-1].out_channels

    def with_resolution(self, resolution: int) -> ArchSpec:
        return replace(self, resolution=resolution)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d['blocks'] = [asdict(b) for b in self.blocks]
        d.pop('extra')
        if self.extra:
            d['extra'] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = '<dict>') -> ArchSpec:
        """Build from :meth:`to_dict` output; ``source`` names the file in errors."""
        where = 'stem'
        try:
            stem = ConvSpec(**d['stem'])
            blocks = []
            for i, b in enumerate(d['blocks']):
                where = f'blocks[{i}]'
                blocks.append(BlockSpec(**b))
            where = 'feature_mix'
            fm = ConvSpec(**d['feature_mix']) if d.get('feature_mix') else None
            where = 'classifier'
            cls_ = ClassifierSpec(**d['classifier']) if d.get('classifier') else None
        except KeyError as e:  # only the top-level 'stem' and 'blocks' are looked up by key
            raise SpecError(f'{source}: missing field {e}') from None
        except TypeError as e:
            raise SpecError(f'{source}: {where}: {e}') from None
        return cls(name=d.get('name', source), stem=stem, blocks=blocks,
                   resolution=int(d.get('resolution', 224)),
                   in_channels=int(d.get('in_channels', 3)),
                   feature_mix=fm, classifier=cls_, extra=dict(d.get('extra', {})))

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str, source: str = '<json>') -> ArchSpec:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError(f'{source}: not valid JSON ({e})') from None
        return cls.from_dict(d, source)
