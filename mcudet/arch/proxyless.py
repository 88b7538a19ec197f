"""Read and write the ProxylessNAS / MCUNet network JSON format (``ProxylessNASNets``).

The official MCUNet zoo files (mit-han-lab/mcunet, ``*_imagenet.json``) describe a network as
``first_conv`` (ConvLayer), ``blocks`` (MobileInvertedResidualBlock: ``mobile_inverted_conv`` +
``shortcut``), ``feature_mix_layer`` (ConvLayer or null), ``classifier`` (LinearLayer) and
``resolution``. Loading maps them onto an :class:`ArchSpec`:

* ``MBInvertedConvLayer`` -> :class:`BlockSpec` keeping ``mid_channels``, ``act_func`` and
  ``use_se`` (SE with reduction 4, i.e. ``se_ratio=0.25``). A missing ``act_func`` means relu6 and
  a missing ``use_se`` means no SE (the ProxylessNAS defaults).
* Blocks whose ``mobile_inverted_conv`` is a ``ZeroLayer`` are dropped: ProxylessNAS runs them as
  the identity.
* The shortcut is stored canonically: an ``IdentityLayer`` where shapes allow a residual becomes
  ``shortcut=None`` ("where shapes allow"), a missing shortcut where shapes would allow one becomes
  ``shortcut=False``. So loading a file and building the same network from block strings compare
  equal.
* Batch-norm settings (``bn``) go to ``spec.extra['bn']`` (not compared, written back on dump).

No torch here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Union

from .spec import ACTIVATIONS, DW_KERNELS, ArchSpec, BlockSpec, ClassifierSpec, ConvSpec, SpecError

DEFAULT_BN = {'momentum': 0.1, 'eps': 1e-5, 'ws_eps': None}
SE_RATIO = 0.25  # ProxylessNAS / MCUNet SEModule.REDUCTION = 4
_MISSING = object()


def is_proxyless_dict(d: Any) -> bool:
    """True when ``d`` looks like a ProxylessNAS network dict (``first_conv`` or MB blocks)."""
    if not isinstance(d, dict):
        return False
    blocks = d.get('blocks')
    first = blocks[0] if isinstance(blocks, list) and blocks else None
    return 'first_conv' in d or (isinstance(first, dict) and 'mobile_inverted_conv' in first)


class _Reader:
    """Field access that names the file and the JSON path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, msg: str) -> SpecError:
        return SpecError(f'{self.source}: {where}: {msg}')

    def obj(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(where, f'expected an object, got {type(value).__name__}')
        return value

    def get(self, d: dict, key: str, where: str, kind: type = int, default: Any = _MISSING) -> Any:
        if key not in d:
            if default is _MISSING:
                raise self.error(where, f'missing field {key!r}')
            return default
        value = d[key]
        if value is None and default is None:
            return None
        if kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise self.error(where, f'{key}={value!r} should be {kind.__name__}')
        return value

    def act(self, d: dict, where: str) -> Optional[str]:
        act = d.get('act_func', 'relu6')  # absent: the ProxylessNAS default
        if act not in ACTIVATIONS:
            raise self.error(where, f'act_func={act!r} is not supported; use one of {ACTIVATIONS}')
        return act

    def name(self, d: dict, where: str, allowed: tuple[str, ...]) -> str:
        name = d.get('name', allowed[0])
        if name not in allowed:
            expected = ' or '.join(allowed)
            raise self.error(where, f'layer type {name!r} is not supported here; expected {expected}')
        return name

    def conv(self, d: Any, where: str, c_in: int) -> ConvSpec:
        d = self.obj(d, where)
        self.name(d, where, ('ConvLayer',))
        got = self.get(d, 'in_channels', where, int, default=c_in)
        if got != c_in:
            raise self.error(where, f'in_channels={got} but the previous layer gives {c_in} channels; '
                                    'fix in_channels or the previous out_channels')
        for key in ('dilation', 'groups'):
            if self.get(d, key, where, int, default=1) != 1:
                raise self.error(where, f'{key}={d[key]} is not supported; only {key}=1')
        k = self.get(d, 'kernel_size', where)
        if k < 1 or k % 2 == 0:
            raise self.error(where, f'kernel_size={k}; use an odd kernel (1, 3, 5, 7)')
        s = self.get(d, 'stride', where, int, default=1)
        if s not in (1, 2):
            raise self.error(where, f'stride={s}; only 1 and 2 are supported')
        out = self.get(d, 'out_channels', where)
        if out < 1:
            raise self.error(where, f'out_channels={out} must be positive')
        return ConvSpec(out, k, s, self.act(d, where))


def _channels(value: Any) -> Any:
    """IdentityLayer channel fields are an int or a one-element list, depending on the exporter."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _block(r: _Reader, raw: Any, i: int, c_in: int, prev: str) -> Optional[BlockSpec]:
    """One MobileInvertedResidualBlock, or None for a ZeroLayer (identity) block."""
    where = f'blocks[{i}]'
    raw = r.obj(raw, where)
    r.name(raw, where, ('MobileInvertedResidualBlock',))
    conv = r.obj(r.get(raw, 'mobile_inverted_conv', where, dict), f'{where}.mobile_inverted_conv')
    shortcut = raw.get('shortcut')
    if shortcut is not None:
        sw = f'{where}.shortcut'
        r.name(r.obj(shortcut, sw), sw, ('IdentityLayer',))
        for key in ('in_channels', 'out_channels'):
            if key in shortcut and _channels(shortcut[key]) != c_in:
                raise r.error(sw, f'{key}={shortcut[key]} but the block input has {c_in} channels; '
                                  'an identity shortcut keeps the channels')
    where = f'{where}.mobile_inverted_conv'
    if r.name(conv, where, ('MBInvertedConvLayer', 'ZeroLayer')) == 'ZeroLayer':
        if r.get(conv, 'stride', where, int, default=1) != 1:
            raise r.error(where, 'a ZeroLayer with stride != 1 changes the shape and cannot be skipped')
        return None
    got = r.get(conv, 'in_channels', where)
    if got != c_in:
        raise r.error(where, f'in_channels={got} but the previous layer ({prev}) gives {c_in} channels; '
                             'fix in_channels or the previous out_channels')
    k = r.get(conv, 'kernel_size', where)
    if k not in DW_KERNELS:
        raise r.error(where, f'kernel_size={k}; use one of {DW_KERNELS}')
    s = r.get(conv, 'stride', where)
    if s not in (1, 2):
        raise r.error(where, f'stride={s}; only 1 and 2 are supported')
    out = r.get(conv, 'out_channels', where)
    e = r.get(conv, 'expand_ratio', where, float)
    mid = r.get(conv, 'mid_channels', where, int, default=None)
    if out < 1 or e <= 0 or (mid is not None and mid < 1):
        raise r.error(where, f'out_channels={out}, expand_ratio={e}, mid_channels={mid} must be positive')
    if e == 1 and mid is not None and mid != c_in:
        raise r.error(where, f'expand_ratio=1 (no expand conv) needs mid_channels=null or {c_in}, got {mid}')
    use_se = r.get(conv, 'use_se', where, bool, default=None) or False
    fits = s == 1 and c_in == out
    if shortcut is not None and not fits:
        raise r.error(f'blocks[{i}].shortcut', f'an IdentityLayer needs stride 1 and in == out channels '
                                               f'(got stride {s}, {c_in} -> {out}); set shortcut to null')
    return BlockSpec(out_channels=out, kernel_size=k, expand_ratio=e, stride=s, mid_channels=mid,
                     se_ratio=SE_RATIO if use_se else 0.0, act=r.act(conv, where),
                     shortcut=False if (fits and shortcut is None) else None)


def proxyless_from_dict(d: Any, source: str = '<dict>', name: Optional[str] = None,
                        resolution: Optional[int] = None) -> ArchSpec:
    """Build an :class:`ArchSpec` from a ProxylessNAS network dict.

    Args:
        d: The parsed JSON.
        source: Names the file in error messages.
        name: Spec name (default: the file stem of ``source``).
        resolution: Input side; overrides the file's ``resolution``.
    """
    r = _Reader(source)
    d = r.obj(d, 'top level')
    first = r.obj(r.get(d, 'first_conv', 'top level', dict), 'first_conv')
    in_channels = r.get(first, 'in_channels', 'first_conv', int, default=3)
    if in_channels < 1:
        raise r.error('first_conv', f'in_channels={in_channels} must be positive')
    stem = r.conv(first, 'first_conv', in_channels)
    raw_blocks = r.get(d, 'blocks', 'top level', list)
    blocks, c, prev = [], stem.out_channels, 'first_conv'
    for i, raw in enumerate(raw_blocks):
        b = _block(r, raw, i, c, prev)
        if b is not None:
            blocks.append(b)
            c, prev = b.out_channels, f'blocks[{i}]'
    if not blocks:
        raise r.error('blocks', 'no MBInvertedConvLayer block; a network needs at least one')
    fm = None
    if d.get('feature_mix_layer') is not None:
        fm = r.conv(d['feature_mix_layer'], 'feature_mix_layer', c)
        c, prev = fm.out_channels, 'feature_mix_layer'
    classifier = None
    if d.get('classifier') is not None:
        cd = r.obj(d['classifier'], 'classifier')
        r.name(cd, 'classifier', ('LinearLayer',))
        in_features = r.get(cd, 'in_features', 'classifier')
        if in_features != c:
            raise r.error('classifier', f'in_features={in_features} but {prev} gives {c} channels; '
                                        'fix in_features or the previous out_channels')
        num_classes = r.get(cd, 'out_features', 'classifier')
        dropout = r.get(cd, 'dropout_rate', 'classifier', float, default=None) or 0.0
        if num_classes < 1 or not 0 <= dropout < 1:
            raise r.error('classifier', f'out_features={num_classes} must be >= 1 and '
                                        f'dropout_rate={dropout} in [0, 1)')
        classifier = ClassifierSpec(num_classes, float(dropout))
    if resolution is None:
        resolution = r.get(d, 'resolution', 'top level', int, default=None)
        if resolution is None:
            raise r.error('top level', "missing field 'resolution'; add it or pass resolution=")
    extra = {'bn': dict(r.obj(d['bn'], 'bn'))} if d.get('bn') is not None else {}
    if name is None:
        name = Path(source).stem if source and not source.startswith('<') else 'proxyless'
    try:
        return ArchSpec(name=name, stem=stem, blocks=tuple(blocks), resolution=resolution,
                        in_channels=in_channels, feature_mix=fm, classifier=classifier, extra=extra)
    except SpecError as e:
        raise SpecError(f'{source}: {e}') from None


def load_proxyless(source: Union[str, Path, dict], name: Optional[str] = None,
                   resolution: Optional[int] = None) -> ArchSpec:
    """Load a ProxylessNAS / MCUNet JSON file (or an already parsed dict).

    Args:
        source: Path to the ``.json`` file, or its parsed dict.
        name: Spec name (default: the file stem).
        resolution: Input side; overrides the file's ``resolution``.
    """
    if isinstance(source, dict):
        return proxyless_from_dict(source, '<dict>', name, resolution)
    path = Path(source)
    try:
        d = json.loads(path.read_text(encoding='utf-8'))
    except OSError as e:
        raise SpecError(f'{path}: cannot read ({e.strerror})') from None
    except json.JSONDecodeError as e:
        raise SpecError(f'{path}: not valid JSON ({e})') from None
    return proxyless_from_dict(d, str(path), name, resolution)


# ---------------------------------------------------------------------- writing
def _conv_layer(conv: ConvSpec, in_channels: int) -> dict:
    return {'name': 'ConvLayer', 'kernel_size': conv.kernel_size, 'stride': conv.stride, 'dilation': 1,
            'groups': 1, 'bias': False, 'has_shuffle': False, 'in_channels': in_channels,
            'out_channels': conv.out_channels, 'use_bn': True, 'act_func': conv.act, 'dropout_rate': 0,
            'ops_order': 'weight_bn_act'}


def _number(x: float) -> Union[int, float]:
    return int(x) if float(x).is_integer() else x


def dump_proxyless(spec: ArchSpec) -> dict:
    """Write ``spec`` in the ProxylessNAS format (``load_proxyless(dump_proxyless(s)) == s``).

    Raises :class:`SpecError` for what the format cannot say: an SE ratio other than 0.25, or
    ``shortcut=True`` on a block whose shapes forbid a residual.
    """
    blocks = []
    for i, (b, c_in) in enumerate(zip(spec.blocks, spec.block_in_channels())):
        if b.se_ratio not in (0, SE_RATIO):
            raise SpecError(f'ArchSpec {spec.name!r}: blocks[{i}].se_ratio={b.se_ratio}; the ProxylessNAS '
                            f'format only has use_se (ratio {SE_RATIO})')
        residual = b.has_residual(c_in)
        if b.shortcut and not residual:
            raise SpecError(f'ArchSpec {spec.name!r}: blocks[{i}].shortcut=True but stride={b.stride}, '
                            f'{c_in} -> {b.out_channels} channels allow no residual; use shortcut=None')
        conv = {'name': 'MBInvertedConvLayer', 'in_channels': c_in, 'out_channels': b.out_channels,
                'kernel_size': b.kernel_size, 'stride': b.stride, 'expand_ratio': _number(b.expand_ratio),
                'mid_channels': b.mid_channels, 'act_func': b.act, 'use_se': b.se_ratio > 0}
        shortcut = None
        if residual:
            shortcut = {'name': 'IdentityLayer', 'in_channels': [c_in], 'out_channels': [c_in],
                        'use_bn': False, 'act_func': None, 'dropout_rate': 0, 'ops_order': 'weight_bn_act'}
        blocks.append({'name': 'MobileInvertedResidualBlock', 'mobile_inverted_conv': conv,
                       'shortcut': shortcut})
    last = spec.blocks[-1].out_channels
    classifier = None
    if spec.classifier is not None:
        classifier = {'name': 'LinearLayer', 'in_features': spec.out_channels,
                      'out_features': spec.classifier.num_classes, 'bias': True, 'use_bn': False,
                      'act_func': None, 'dropout_rate': _number(spec.classifier.dropout),
                      'ops_order': 'weight_bn_act'}
    return {
        'name': 'ProxylessNASNets',
        'bn': dict(spec.extra.get('bn', DEFAULT_BN)),
        'first_conv': _conv_layer(spec.stem, spec.in_channels),
        'blocks': blocks,
        'feature_mix_layer': _conv_layer(spec.feature_mix, last) if spec.feature_mix else None,
        'classifier': classifier,
        'resolution': spec.resolution,
    }


def save_proxyless(spec: ArchSpec, path: Union[str, Path]) -> None:
    """Write :func:`dump_proxyless` output to ``path`` as indented JSON."""
    Path(path).write_text(json.dumps(dump_proxyless(spec), indent=4) + '\n', encoding='utf-8')
