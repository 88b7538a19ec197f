"""Block strings: compact, timm-style text for blocks and convolutions ("models as data").

Grammar (options after the type in any order, each at most once)::

    ir_k5_e4_c16_s2            inverted residual: depthwise kernel 5, expand 4, 16 out, stride 2
    ir_k3_e6_c24_s1_m144       ... with an explicit hidden width (mid_channels)
    ir_k3_e6_c24_s1_se0.25     ... with squeeze-excite (se_ratio 0.25)
    ir_k3_e6_c24_s1_noskip     ... without the residual add although shapes allow it
    ir_k3_e6_c24_s1_skip       ... residual add required (shortcut=True)
    ir_k3_e6_c24_s2_r3         3 blocks, the first with stride 2 (only in :func:`decode_blocks`)
    conv_k3_c32_s2             dense convolution (stem, feature mix)

Activation flags: ``relu`` (default is relu6), ``relu6`` (explicit default), ``linear`` (none).
``k``, ``e`` and ``c`` are required for ``ir``; ``k`` and ``c`` for ``conv``; ``s`` defaults to 1.
No torch here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Optional, Union

from .spec import DW_KERNELS, ArchSpec, BlockSpec, ClassifierSpec, ConvSpec, SpecError

_ACT_FLAGS = {'relu': 'relu', 'relu6': 'relu6', 'linear': None}
_SKIP_FLAGS = {'skip': True, 'noskip': False}
_OPTION = re.compile(r'^([a-z]+?)(\d.*)$')
_INT = re.compile(r'^\d+$')
# option key -> (attribute, allowed in 'ir', allowed in 'conv', integer only)
_KEYS = {
    'k': ('kernel_size', True, True, True),
    'e': ('expand_ratio', True, False, False),
    'c': ('out_channels', True, True, True),
    's': ('stride', True, True, True),
    'm': ('mid_channels', True, False, True),
    'se': ('se_ratio', True, False, False),
    'r': ('repeat', True, False, True),
}


def _fmt_number(x: Union[int, float]) -> str:
    """Shortest text that parses back to an equal number (6 -> '6', 0.25 -> '0.25')."""
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def _parse_number(text: str, string: str, key: str, integer: bool) -> Union[int, float]:
    if _INT.match(text):
        return int(text)
    if not integer:
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is not None and value == value and value not in (float('inf'), float('-inf')):
            return value
    kind = 'an integer' if integer else 'a number'
    raise SpecError(f'block string {string!r}: {key}{text} needs {kind} after {key!r}')


def _parse(string: str) -> tuple[str, dict, Optional[str], Optional[bool]]:
    """Split and check a string: (type, options, act, shortcut)."""
    if not isinstance(string, str) or not string:
        raise SpecError(f'block string {string!r}: expected text such as "ir_k3_e6_c24_s2"')
    kind, *tokens = string.split('_')
    if kind not in ('ir', 'conv'):
        raise SpecError(f'block string {string!r}: unknown type {kind!r}; use "ir" (inverted residual) '
                        'or "conv" (dense convolution)')
    opts: dict = {}
    act, act_given, shortcut, skip_given = 'relu6', False, None, False
    for tok in tokens:
        if tok in _ACT_FLAGS:
            if act_given:
                raise SpecError(f'block string {string!r}: more than one activation flag')
            act, act_given = _ACT_FLAGS[tok], True
            continue
        if tok in _SKIP_FLAGS:
            if kind != 'ir' or skip_given:
                raise SpecError(f'block string {string!r}: {tok!r} is allowed once, in "ir" blocks only')
            shortcut, skip_given = _SKIP_FLAGS[tok], True
            continue
        m = _OPTION.match(tok)
        if m is None or m.group(1) not in _KEYS:
            raise SpecError(f'block string {string!r}: cannot read {tok!r}; options are '
                            f'{"/".join(_KEYS)} followed by a number, or one of '
                            f'{", ".join([*_ACT_FLAGS, *_SKIP_FLAGS])}')
        key, text = m.groups()
        attr, in_ir, in_conv, integer = _KEYS[key]
        if not (in_ir if kind == 'ir' else in_conv):
            raise SpecError(f'block string {string!r}: option {key!r} is not allowed in {kind!r} strings')
        if attr in opts:
            raise SpecError(f'block string {string!r}: option {key!r} given twice')
        opts[attr] = _parse_number(text, string, key, integer)
    required = ('kernel_size', 'out_channels') + (('expand_ratio',) if kind == 'ir' else ())
    missing = [k for k, v in _KEYS.items() if v[0] in required and v[0] not in opts]
    if missing:
        raise SpecError(f'block string {string!r}: missing {", ".join(missing)} (e.g. "ir_k3_e6_c24_s2")')
    stride = opts.get('stride', 1)
    if stride not in (1, 2):
        raise SpecError(f'block string {string!r}: s{stride}; only strides 1 and 2 are supported')
    if opts['out_channels'] < 1 or opts.get('repeat', 1) < 1 or opts.get('mid_channels', 1) < 1:
        raise SpecError(f'block string {string!r}: c, m and r must be at least 1')
    k = opts['kernel_size']
    if kind == 'ir':
        if k not in DW_KERNELS:
            raise SpecError(f'block string {string!r}: k{k} is not a supported depthwise kernel; '
                            f'use one of {DW_KERNELS}')
        if opts['expand_ratio'] <= 0 or opts.get('se_ratio', 0) < 0:
            raise SpecError(f'block string {string!r}: e must be > 0 and se >= 0')
    elif k % 2 == 0:
        raise SpecError(f'block string {string!r}: k{k}; use an odd kernel (1, 3, 5, 7)')
    return kind, opts, act, shortcut


def _act_suffix(act: Optional[str]) -> str:
    if act == 'relu6':
        return ''
    for flag, value in _ACT_FLAGS.items():
        if value == act:
            return f'_{flag}'
    raise SpecError(f'activation {act!r} has no block-string flag; use relu, relu6 or None')


# ---------------------------------------------------------------------- blocks
def encode_block(block: BlockSpec) -> str:
    """The canonical string of one block (``decode_block(encode_block(b)) == b``)."""
    s = (f'ir_k{block.kernel_size}_e{_fmt_number(block.expand_ratio)}_c{block.out_channels}'
         f'_s{block.stride}')
    if block.mid_channels is not None:
        s += f'_m{block.mid_channels}'
    if block.se_ratio > 0:
        s += f'_se{_fmt_number(block.se_ratio)}'
    if block.shortcut is not None:
        s += '_skip' if block.shortcut else '_noskip'
    return s + _act_suffix(block.act)


def _decode_ir(string: str) -> tuple[BlockSpec, int]:
    """(block, repeat count) of one ``ir_...`` string."""
    kind, opts, act, shortcut = _parse(string)
    if kind != 'ir':
        raise SpecError(f'block string {string!r}: expected an "ir_..." block, got a {kind!r} layer')
    block = BlockSpec(out_channels=opts['out_channels'], kernel_size=opts['kernel_size'],
                      expand_ratio=opts['expand_ratio'], stride=opts.get('stride', 1),
                      mid_channels=opts.get('mid_channels'), se_ratio=opts.get('se_ratio', 0.0),
                      act=act, shortcut=shortcut)
    return block, opts.get('repeat', 1)


def decode_block(string: str) -> BlockSpec:
    """Parse one ``ir_...`` string into a :class:`BlockSpec` (no ``_r`` repeats here)."""
    block, repeat = _decode_ir(string)
    if repeat != 1 or re.search(r'_r\d', string):
        raise SpecError(f'block string {string!r}: repeats (_r) describe several blocks; '
                        'use decode_blocks() for stage strings')
    return block


def decode_blocks(strings: Iterable[str]) -> tuple[BlockSpec, ...]:
    """Parse block strings, expanding ``_rN`` into N blocks (stride only on the first)."""
    if isinstance(strings, str):
        raise SpecError(f'decode_blocks({strings!r}): pass a list of block strings, not one string')
    blocks: list[BlockSpec] = []
    for string in strings:
        first, repeat = _decode_ir(string)
        blocks.append(first)
        blocks.extend(replace(first, stride=1) for _ in range(repeat - 1))
    return tuple(blocks)


def encode_blocks(blocks: Iterable[BlockSpec]) -> list[str]:
    """One canonical string per block (no repeat compression, so indices stay aligned)."""
    return [encode_block(b) for b in blocks]


# ---------------------------------------------------------------------- dense convs
def encode_conv(conv: ConvSpec) -> str:
    """The canonical string of a dense convolution, e.g. ``conv_k3_c32_s2``."""
    return f'conv_k{conv.kernel_size}_c{conv.out_channels}_s{conv.stride}' + _act_suffix(conv.act)


def decode_conv(string: str) -> ConvSpec:
    """Parse a ``conv_...`` string into a :class:`ConvSpec`."""
    kind, opts, act, _ = _parse(string)
    if kind != 'conv':
        raise SpecError(f'block string {string!r}: expected a "conv_..." layer, got {kind!r}')
    return ConvSpec(out_channels=opts['out_channels'], kernel_size=opts['kernel_size'],
                    stride=opts.get('stride', 1), act=act)


# ---------------------------------------------------------------------- whole specs
def spec_from_strings(name: str, stem: str, blocks: Sequence[str], *, resolution: int = 224,
                      feature_mix: Optional[str] = None, num_classes: Optional[int] = 1000,
                      dropout: float = 0.0, in_channels: int = 3,
                      extra: Optional[dict] = None) -> ArchSpec:
    """Build an :class:`ArchSpec` from strings.

    Args:
        name: Spec name.
        stem: ``conv_...`` string of the first convolution.
        blocks: ``ir_...`` strings (``_rN`` repeats allowed).
        resolution: Default input side.
        feature_mix: Optional ``conv_...`` string of the layer after the last block.
        num_classes: Classifier outputs; None or 0 for a headless backbone.
        dropout: Classifier dropout.
        in_channels: Image channels.
        extra: Free-form metadata (not compared, e.g. batch-norm settings).
    """
    return ArchSpec(name=name, stem=decode_conv(stem), blocks=decode_blocks(blocks),
                    resolution=resolution, in_channels=in_channels,
                    feature_mix=decode_conv(feature_mix) if feature_mix else None,
                    classifier=ClassifierSpec(num_classes, dropout) if num_classes else None,
                    extra=dict(extra or {}))


def spec_to_strings(spec: ArchSpec) -> dict:
    """The keyword arguments of :func:`spec_from_strings` that rebuild ``spec``."""
    return {
        'name': spec.name,
        'stem': encode_conv(spec.stem),
        'blocks': encode_blocks(spec.blocks),
        'resolution': spec.resolution,
        'feature_mix': encode_conv(spec.feature_mix) if spec.feature_mix else None,
        'num_classes': spec.classifier.num_classes if spec.classifier else None,
        'dropout': spec.classifier.dropout if spec.classifier else 0.0,
        'in_channels': spec.in_channels,
        'extra': dict(spec.extra),
    }
