"""Named architecture specs: MobileNetV2 families, MbV2-RD, the MCUNet model zoo and our MCUNetV2 designs.

The MCUNet zoo networks are transcribed from the official ProxylessNAS JSON files of
mit-han-lab/mcunet as block strings (:mod:`mcudet.arch.blockstr`), so nothing here reads a file
at run time; ``tests/arch`` checks each transcription against its official file. Every zoo entry
is also reachable by the file stem of its JSON (e.g. ``mcunet-256kb-1mb_imagenet``).

``load_spec`` accepts a zoo name, a ``.json`` path (ArchSpec JSON or ProxylessNAS JSON, detected
from the keys), a dict in either format or in block-string form, or an ArchSpec.
No torch here.
"""
from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Union

from .blockstr import spec_from_strings
from .builders import mobilenet_v2, mobilenet_v2_rd
from .proxyless import is_proxyless_dict, proxyless_from_dict
from .spec import ArchSpec, SpecError


@dataclass(frozen=True)
class ZooEntry:
    """A registered spec.

    Args:
        name: Canonical name (``spec.name`` of the built spec).
        factory: Builds the spec (called on every lookup, so callers may not share state).
        aliases: Other names that resolve to this entry.
        published_macs: MACs in millions as published by ``source`` (classifier included).
        source: Where the architecture and the published numbers come from.
    """

    name: str
    factory: Callable[[], ArchSpec]
    aliases: tuple[str, ...] = ()
    published_macs: Optional[float] = None
    source: str = ''


_ENTRIES: dict[str, ZooEntry] = {}
_ALIASES: dict[str, str] = {}


def register_spec(name: str, factory: Callable[[], ArchSpec], aliases: tuple[str, ...] = (),
                  published_macs: Optional[float] = None, source: str = '',
                  overwrite: bool = False) -> ZooEntry:
    """Add a named spec to the zoo (see :class:`ZooEntry` for the arguments)."""
    for key in (name, *aliases):
        if not overwrite and (key in _ENTRIES or key in _ALIASES):
            raise SpecError(f'zoo: name {key!r} is already registered; pick another or pass overwrite=True')
    entry = ZooEntry(name, factory, tuple(aliases), published_macs, source)
    _ENTRIES[name] = entry
    for alias in aliases:
        _ALIASES[alias] = name
    return entry


def _canonical(name: str) -> str:
    if name in _ENTRIES:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    close = difflib.get_close_matches(name, [*_ENTRIES, *_ALIASES], n=3, cutoff=0.5)
    hint = f'; did you mean {", ".join(map(repr, close))}?' if close else ''
    raise SpecError(f'zoo: no spec named {name!r}{hint} (list_specs() shows all names)')


def get_entry(name: str) -> ZooEntry:
    """The :class:`ZooEntry` of a name or alias."""
    return _ENTRIES[_canonical(name)]


def get_spec(name: str) -> ArchSpec:
    """Build the spec registered under ``name`` (or one of its aliases)."""
    entry = get_entry(name)
    spec = entry.factory()
    return spec if spec.name == entry.name else replace(spec, name=entry.name)


def list_specs(include_aliases: bool = False) -> list[str]:
    """Registered names in registration order (aliases appended when asked)."""
    names = list(_ENTRIES)
    return names + list(_ALIASES) if include_aliases else names


def _from_dict(d: dict, source: str) -> ArchSpec:
    if is_proxyless_dict(d):
        return proxyless_from_dict(d, source)
    try:
        if isinstance(d.get('stem'), str):  # block-string form, e.g. from a config file
            return spec_from_strings(**{'name': Path(source).stem, **d})
        if 'stem' in d or 'blocks' in d:
            return ArchSpec.from_dict(d, source)
    except TypeError as e:  # unknown or missing keyword of spec_from_strings
        raise SpecError(f'{source}: {e}') from None
    except SpecError as e:  # name the file in errors raised while validating the spec
        msg = str(e)
        raise SpecError(msg if msg.startswith(source) else f'{source}: {msg}') from None
    raise SpecError(f'{source}: neither an ArchSpec (keys stem, blocks) nor a ProxylessNAS network '
                    f'(keys first_conv, blocks); found keys {sorted(d)}')


def _is_name(text: str) -> bool:
    """A zoo name, or text that is not a path to a spec file (reported as an unknown name)."""
    if text in _ENTRIES or text in _ALIASES:
        return True
    return not (text.endswith('.json') or Path(text).is_file())


def _from_file(path: Path) -> ArchSpec:
    try:
        d = json.loads(path.read_text(encoding='utf-8'))
    except OSError as e:
        raise SpecError(f'{path}: cannot read the spec file ({e.strerror})') from None
    except json.JSONDecodeError as e:
        raise SpecError(f'{path}: not valid JSON ({e})') from None
    if not isinstance(d, dict):
        raise SpecError(f'{path}: expected a JSON object at the top level')
    return _from_dict(d, str(path))


def load_spec(spec: Union[str, Path, dict, ArchSpec], resolution: Optional[int] = None) -> ArchSpec:
    """Resolve anything that names an architecture into an :class:`ArchSpec`.

    Args:
        spec: A zoo name or alias, a path to a ``.json`` file (ArchSpec or ProxylessNAS format),
            a dict in ArchSpec, ProxylessNAS or block-string form (``stem='conv_k3_c16_s2',
            blocks=['ir_k3_e1_c8_s1', ...]``), or an ArchSpec.
        resolution: Overrides the default input side of the result.
    """
    if isinstance(spec, ArchSpec):
        result = spec
    elif isinstance(spec, dict):
        result = _from_dict(spec, '<dict>')
    elif isinstance(spec, str) and _is_name(spec):
        result = get_spec(spec)
    elif isinstance(spec, (str, Path)):
        result = _from_file(Path(spec))
    else:
        raise SpecError(f'load_spec: cannot build a spec from {type(spec).__name__}; pass a zoo name, '
                        'a .json path, a dict or an ArchSpec')
    return result if resolution is None else result.with_resolution(resolution)


# ---------------------------------------------------------------------- MobileNetV2 family
_MBV2 = 'Sandler et al. 2018 (MobileNetV2); last 1x1 = make_divisible(1280 * width) as in MCUNet'
for _w in (0.35, 0.5, 1.0):
    register_spec(f'mbv2-w{_w}', (lambda w=_w: mobilenet_v2(w, 224)), source=_MBV2,
                  published_macs=300.0 if _w == 1.0 else None,
                  aliases=('mbv2', 'mobilenet_v2') if _w == 1.0 else ())
register_spec('mbv2-w0.5-r144', lambda: mobilenet_v2(0.5, 144), source='MCUNetV2 paper, Fig. 6')
register_spec('mbv2-rd', lambda: mobilenet_v2_rd(1.0, 224), aliases=('mbv2-rd-w1.0',),
              source='MCUNetV2 paper, Fig. 4 (receptive-field redistribution)')
register_spec('mbv2-rd-w0.5-r144', lambda: mobilenet_v2_rd(0.5, 144), source='MCUNetV2 paper, Fig. 6')

# ---------------------------------------------------------------------- MCUNet zoo (transcribed)
# name, file stem, published MMACs, resolution, stem, feature mix, classifier dropout, bn eps, blocks
_BN_MCUNET = {'momentum': 0.1, 'eps': 1e-5, 'ws_eps': None}
_BN_PROXYLESS = {'momentum': 0.1, 'eps': 1e-3, 'ws_eps': None}
_ZOO = 'mit-han-lab/mcunet model zoo'
_MCUNET: tuple[dict[str, Any], ...] = (
    dict(name='mcunet-in0', file='mcunet-10fps_imagenet', macs=6.4, resolution=48,
         stem='conv_k3_c24_s2', feature_mix=None, dropout=0.0, bn=_BN_MCUNET, blocks=(
             'ir_k3_e1_c16_s1', 'ir_k5_e4_c16_s2_m64', 'ir_k3_e3_c16_s1_m48', 'ir_k3_e4_c16_s1_m64',
             'ir_k7_e5_c24_s2_m80', 'ir_k5_e4_c24_s1_m96', 'ir_k5_e5_c24_s1_m120', 'ir_k7_e5_c48_s2_m120',
             'ir_k5_e4_c48_s1_m192', 'ir_k3_e5_c56_s1_m240', 'ir_k5_e4_c56_s1_m224', 'ir_k3_e5_c56_s1_m280',
             'ir_k3_e6_c112_s2_m336', 'ir_k5_e4_c112_s1_m448', 'ir_k3_e6_c192_s1_m672')),
    dict(name='mcunet-in1', file='mcunet-5fps_imagenet', macs=12.8, resolution=96,
         stem='conv_k3_c16_s2', feature_mix=None, dropout=0.0, bn=_BN_MCUNET, blocks=(
             'ir_k3_e1_c8_s1', 'ir_k3_e4_c16_s2_m32', 'ir_k3_e3_c16_s1_m48', 'ir_k7_e3_c24_s2_m48',
             'ir_k3_e5_c24_s1_m120', 'ir_k3_e5_c40_s2_m120', 'ir_k7_e4_c40_s1_m160', 'ir_k5_e4_c48_s1_m160',
             'ir_k3_e3_c48_s1_m144', 'ir_k3_e4_c48_s1_m192', 'ir_k7_e5_c96_s2_m240', 'ir_k5_e4_c96_s1_m384',
             'ir_k5_e4_c96_s1_m384', 'ir_k3_e6_c160_s1_m576')),
    dict(name='mcunet-in2', file='mcunet-256kb-1mb_imagenet', macs=67.3, resolution=160,
         stem='conv_k3_c16_s2', feature_mix=None, dropout=0.0, bn=_BN_MCUNET, blocks=(
             'ir_k3_e1_c8_s1', 'ir_k5_e3_c16_s2_m24', 'ir_k7_e6_c16_s1_m96', 'ir_k3_e5_c16_s1_m80',
             'ir_k5_e5_c16_s1_m80', 'ir_k3_e5_c24_s2_m80', 'ir_k7_e6_c24_s1_m144', 'ir_k5_e6_c24_s1_m144',
             'ir_k7_e4_c40_s2_m96', 'ir_k5_e5_c40_s1_m200', 'ir_k3_e5_c48_s1_m200', 'ir_k5_e5_c48_s1_m240',
             'ir_k3_e4_c48_s1_m192', 'ir_k5_e6_c96_s2_m288', 'ir_k5_e4_c96_s1_m384', 'ir_k5_e3_c96_s1_m288',
             'ir_k3_e4_c96_s1_m384', 'ir_k5_e5_c160_s1_m480')),
    dict(name='mcunet-in3', file='mcunet-320kb-1mb_imagenet', macs=81.8, resolution=176,
         stem='conv_k3_c16_s2', feature_mix=None, dropout=0.0, bn=_BN_MCUNET, blocks=(
             'ir_k3_e1_c8_s1', 'ir_k7_e3_c16_s2_m24', 'ir_k3_e5_c16_s1_m80', 'ir_k7_e5_c16_s1_m80',
             'ir_k5_e4_c16_s1_m64', 'ir_k5_e5_c24_s2_m80', 'ir_k5_e5_c24_s1_m120', 'ir_k5_e5_c24_s1_m120',
             'ir_k3_e5_c40_s2_m120', 'ir_k7_e6_c40_s1_m240', 'ir_k5_e4_c40_s1_m160', 'ir_k5_e5_c48_s1_m200',
             'ir_k7_e5_c48_s1_m240', 'ir_k3_e5_c48_s1_m240', 'ir_k3_e6_c96_s2_m288', 'ir_k7_e5_c96_s1_m480',
             'ir_k3_e4_c96_s1_m384', 'ir_k7_e5_c160_s1_m480')),
    dict(name='mcunet-in4', file='mcunet-512kb-2mb_imagenet', macs=125.9, resolution=160,
         stem='conv_k3_c32_s2', feature_mix=None, dropout=0.0, bn=_BN_MCUNET, blocks=(
             'ir_k3_e1_c16_s1', 'ir_k7_e3_c24_s2_m48', 'ir_k3_e5_c24_s1_m120', 'ir_k5_e4_c24_s1_m96',
             'ir_k7_e5_c40_s2_m120', 'ir_k3_e4_c40_s1_m160', 'ir_k7_e4_c40_s1_m160', 'ir_k7_e3_c80_s2_m120',
             'ir_k3_e3_c80_s1_m240', 'ir_k7_e3_c80_s1_m240', 'ir_k3_e4_c96_s1_m320', 'ir_k5_e3_c96_s1_m288',
             'ir_k5_e3_c96_s1_m288', 'ir_k7_e4_c192_s2_m384', 'ir_k7_e3_c192_s1_m576',
             'ir_k5_e3_c192_s1_m576', 'ir_k5_e4_c320_s1_m768')),
    dict(name='mbv2-w0.35-r144', file='mbv2-w0.35-r144_imagenet', macs=23.5, resolution=144,
         stem='conv_k3_c16_s2', feature_mix='conv_k1_c448_s1', dropout=0.2, bn=_BN_PROXYLESS, blocks=(
             'ir_k3_e1_c8_s1', 'ir_k3_e6_c8_s2', 'ir_k3_e6_c8_s1', 'ir_k3_e6_c16_s2', 'ir_k3_e6_c16_s1',
             'ir_k3_e6_c16_s1', 'ir_k3_e6_c24_s2', 'ir_k3_e6_c24_s1', 'ir_k3_e6_c24_s1', 'ir_k3_e6_c24_s1',
             'ir_k3_e6_c32_s1', 'ir_k3_e6_c32_s1', 'ir_k3_e6_c32_s1', 'ir_k3_e6_c56_s2', 'ir_k3_e6_c56_s1',
             'ir_k3_e6_c56_s1', 'ir_k3_e6_c112_s1')),
    dict(name='proxyless-w0.3-r176', file='proxyless-w0.3-r176_imagenet', macs=38.3, resolution=176,
         stem='conv_k3_c16_s2', feature_mix='conv_k1_c384_s1', dropout=0.0, bn=_BN_PROXYLESS, blocks=(
             'ir_k3_e1_c8_s1', 'ir_k5_e3_c16_s2', 'ir_k3_e3_c16_s1', 'ir_k7_e3_c16_s2', 'ir_k3_e3_c16_s1',
             'ir_k5_e3_c16_s1', 'ir_k5_e3_c16_s1', 'ir_k7_e6_c24_s2', 'ir_k5_e3_c24_s1', 'ir_k5_e3_c24_s1',
             'ir_k5_e3_c24_s1', 'ir_k5_e6_c32_s1', 'ir_k5_e3_c32_s1', 'ir_k5_e3_c32_s1', 'ir_k5_e3_c32_s1',
             'ir_k7_e6_c64_s2', 'ir_k7_e6_c64_s1', 'ir_k7_e3_c64_s1', 'ir_k7_e3_c64_s1', 'ir_k7_e6_c96_s1')),
    # The other non-int4 files of the zoo folder (no published MACs in the zoo table).
    dict(name='mbv2-w0.3-r80', file='mbv2-w0.3-r80_imagenet', macs=None, resolution=80,
         stem='conv_k3_c16_s2', feature_mix='conv_k1_c384_s1', dropout=0.2, bn=_BN_PROXYLESS, blocks=(
             'ir_k3_e1_c8_s1', 'ir_k3_e6_c8_s2', 'ir_k3_e6_c8_s1', 'ir_k3_e6_c16_s2', 'ir_k3_e6_c16_s1',
             'ir_k3_e6_c16_s1', 'ir_k3_e6_c24_s2', 'ir_k3_e6_c24_s1', 'ir_k3_e6_c24_s1', 'ir_k3_e6_c24_s1',
             'ir_k3_e6_c32_s1', 'ir_k3_e6_c32_s1', 'ir_k3_e6_c32_s1', 'ir_k3_e6_c48_s2', 'ir_k3_e6_c48_s1',
             'ir_k3_e6_c48_s1', 'ir_k3_e6_c96_s1')),
    dict(name='proxyless-w0.25-r112', file='proxyless-w0.25-r112_imagenet', macs=None, resolution=112,
         stem='conv_k3_c8_s2', feature_mix='conv_k1_c320_s1', dropout=0.0, bn=_BN_PROXYLESS, blocks=(
             'ir_k3_e1_c8_s1_noskip', 'ir_k5_e3_c8_s2', 'ir_k3_e3_c8_s1', 'ir_k7_e3_c16_s2',
             'ir_k3_e3_c16_s1', 'ir_k5_e3_c16_s1', 'ir_k5_e3_c16_s1', 'ir_k7_e6_c24_s2', 'ir_k5_e3_c24_s1',
             'ir_k5_e3_c24_s1', 'ir_k5_e3_c24_s1', 'ir_k5_e6_c24_s1_noskip', 'ir_k5_e3_c24_s1',
             'ir_k5_e3_c24_s1', 'ir_k5_e3_c24_s1', 'ir_k7_e6_c48_s2', 'ir_k7_e6_c48_s1', 'ir_k7_e3_c48_s1',
             'ir_k7_e3_c48_s1', 'ir_k7_e6_c80_s1')),
    dict(name='proxyless-mobile', file='proxyless_mobile', macs=None, resolution=224,
         stem='conv_k3_c32_s2', feature_mix='conv_k1_c1280_s1', dropout=0.0, bn=_BN_PROXYLESS, blocks=(
             'ir_k3_e1_c16_s1', 'ir_k5_e3_c32_s2', 'ir_k3_e3_c32_s1', 'ir_k7_e3_c40_s2', 'ir_k3_e3_c40_s1',
             'ir_k5_e3_c40_s1', 'ir_k5_e3_c40_s1', 'ir_k7_e6_c80_s2', 'ir_k5_e3_c80_s1', 'ir_k5_e3_c80_s1',
             'ir_k5_e3_c80_s1', 'ir_k5_e6_c96_s1', 'ir_k5_e3_c96_s1', 'ir_k5_e3_c96_s1', 'ir_k5_e3_c96_s1',
             'ir_k7_e6_c192_s2', 'ir_k7_e6_c192_s1', 'ir_k7_e3_c192_s1', 'ir_k7_e3_c192_s1',
             'ir_k7_e6_c320_s1')),
)


def _zoo_factory(row: dict[str, Any]) -> Callable[[], ArchSpec]:
    def build() -> ArchSpec:
        return spec_from_strings(row['name'], row['stem'], row['blocks'], resolution=row['resolution'],
                                 feature_mix=row['feature_mix'], num_classes=1000, dropout=row['dropout'],
                                 extra={'bn': dict(row['bn']), 'source_file': row['file'] + '.json'})
    return build


for _row in _MCUNET:
    _alias = (_row['file'],) if _row['file'] != _row['name'] else ()
    register_spec(_row['name'], _zoo_factory(_row), aliases=_alias, published_macs=_row['macs'],
                  source=f'{_ZOO}: {_row["file"]}.json')

# Source files of transcribed entries: canonical name -> file stem (for tests and tools).
ZOO_FILES: dict[str, str] = {row['name']: row['file'] for row in _MCUNET}

# ---------------------------------------------------------------------- designed for mcudet
# Networks for the budgets of the MCUNetV2 paper's results tables (design/figures.md) whose channel
# widths the paper does not publish. The layouts and widths below are ours; every number quoted here
# is recomputed by tests/arch/test_arch_designed_specs.py (analytic model of mcudet.patch.memory,
# paper convention: int8, input frame streamed; MACs without a detection head; kB = 1024 bytes).
#
# Common shape (the paper's receptive-field redistribution, Fig. 4 / Fig. 9): the per-patch stage is
# short and uses small kernels -- stem conv3x3 s2, an MB1 block, two stride-2 MB blocks -- and ends at
# stride 8, so split = 4 units and the stage output is the stride-8 feature. The 5x5 / 7x7 kernels and
# most blocks sit in the per-layer stage, where they cost no halo recomputation. Widths are multiples
# of 8. ``extra`` records:
#   input_hw        recommended input (H, W); ``resolution`` is only the square default;
#   patch_schedule  split, grid and the activation budget (kB) under which
#                   ``search_schedule(spec, input_hw, budget, splits=[split])`` picks that grid
#                   (the fewest MACs among the schedules that fit);
#   out_indices     detection backbones: the last unit at stride 8, 16 and 32 (unit 0 = stem,
#                   unit i + 1 = blocks[i]), i.e. MCUNetV2Backbone(out_indices=...).
#
# mcunetv2-vww (paper Fig. 9 layout, 160x160, 2 classes). Target: ~30 kB patch-based peak.
#   The 1x1 conv after the stem is an MB1 block with a 1x1 depthwise kernel (as in MbV2-RD).
#   Per-layer-stage widths are the largest multiples of 8 whose widest expand fits 32 kB:
#   20x20: MB4 on c=16 -> 400 * 16 * (1 + 4) = 32,000 B (c=24: 48,000 B); 10x10: the MB6 blocks on
#   c=40 -> 100 * 40 * 7 = 28,000 B (c=48: 33,600 B). At 5x5 memory is no constraint; 96 / 160 keep
#   the MACs near MCUNet's VWW models. Per-patch stage: stem 16, MB1 8, MB3 16, MB4 16 (MCUNet-like).
#   Result: 30.2M MACs, 0.54M params; per-layer peak 200.0 kB; split 4 on 4x4 patches: 31.2 kB
#   (set by the per-layer stage, blocks.3.expand), +5.2 % MACs; with the frame resident 97.8 kB.
# mcunetv2-det-m4 (Pascal VOC, STM32F412: 256 kB SRAM / 1 MB flash, 224x224). Aim: <= 200 kB so that
#   the neck / head and the kept stride-8 / 16 maps fit beside it; backbone well below the paper's
#   172M MACs with its head. 120.7M MACs, 0.80M params (int8 weights leave ~200 kB of flash for the
#   head); per-layer peak 490.0 kB; split 4 on 2x2 patches: 165.1 kB (blocks.1.expand, per-patch
#   stage), +1.3 % MACs. Stride-8 stage c=40: its widest expand is 784 * 40 * 5 = 156,800 B.
#   out_indices (5, 9, 13): 40x28x28, 96x14x14, 192x7x7.
# mcunetv2-det-h7 (Pascal VOC, STM32H743: 512 kB SRAM / 2 MB flash, 320x320). Aim: <= 400 kB. The M4
#   layout at 320x320 with the stride-32 stage widened to 160 and the last block to 320 (the 2 MB flash
#   pays for it; paper: 343M MACs with the head). 277.4M MACs, 1.11M params; per-layer peak 1000.0 kB;
#   split 4 on 2x2 patches: 325.6 kB (blocks.1.expand), +0.8 % MACs. out_indices (5, 9, 13):
#   40x40x40, 96x20x20, 320x10x10.
# mcunetv2-s (WIDER Face, paper: 110M MACs, 168 kB; input 240x320 = QVGA landscape, the native mode of
#   the usual MCU camera modules). A slimmer M4 layout (stem 8; stride 8/16/32 widths 24/64/96..160;
#   one block fewer at stride 32) so that a one-class head fits in the 110M. 94.0M MACs, 0.36M params;
#   per-layer peak 750.0 kB; split 4 on 3x3 patches (budget 168 kB): 140.6 kB (blocks.5.expand,
#   per-layer stage), +2.9 % MACs. out_indices (5, 9, 12): 24x30x40, 64x15x20, 160x8x10.
_DET_FRONT = ('ir_k3_e1_c8', 'ir_k5_e4_c16_s2', 'ir_k3_e4_c32_s2',            # per-patch stage
                'ir_k7_e4_c40', 'ir_k5_e4_c40',                                # stride 8
                'ir_k7_e4_c64_s2', 'ir_k5_e4_c64', 'ir_k3_e4_c96', 'ir_k5_e4_c96')  # stride 16
_DESIGNED: tuple[dict[str, Any], ...] = (
    dict(name='mcunetv2-vww', resolution=160, input_hw=[160, 160], stem='conv_k3_c16_s2', num_classes=2,
         blocks=('ir_k1_e1_c8', 'ir_k3_e3_c16_s2', 'ir_k3_e4_c16_s2',             # per-patch stage
                 'ir_k5_e4_c16', 'ir_k3_e4_c16',                                  # 20x20
                 'ir_k7_e4_c40_s2', 'ir_k7_e4_c40', 'ir_k7_e4_c40', 'ir_k5_e6_c40',  # 10x10
                 'ir_k3_e6_c96_s2', 'ir_k5_e6_c96', 'ir_k3_e3_c96', 'ir_k7_e3_c96', 'ir_k5_e6_c160'),  # 5x5
         schedule=dict(split=4, grid=[4, 4], budget_kb=32), out_indices=None,
         source='MCUNetV2 paper, Fig. 9 (searched VWW layout); widths by mcudet (not published)'),
    dict(name='mcunetv2-det-m4', resolution=224, input_hw=[224, 224], stem='conv_k3_c16_s2', num_classes=None,
         blocks=_DET_FRONT + ('ir_k7_e4_c128_s2', 'ir_k5_e4_c128', 'ir_k5_e4_c128', 'ir_k3_e4_c192'),
         schedule=dict(split=4, grid=[2, 2], budget_kb=200), out_indices=[5, 9, 13],
         source='mcudet design for the MCUNetV2 paper\'s VOC / STM32F412 budget (256 kB SRAM)'),
    dict(name='mcunetv2-det-h7', resolution=320, input_hw=[320, 320], stem='conv_k3_c16_s2', num_classes=None,
         blocks=_DET_FRONT + ('ir_k7_e4_c160_s2', 'ir_k5_e4_c160', 'ir_k5_e4_c160', 'ir_k3_e4_c320'),
         schedule=dict(split=4, grid=[2, 2], budget_kb=400), out_indices=[5, 9, 13],
         source='mcudet design for the MCUNetV2 paper\'s VOC / STM32H743 budget (512 kB SRAM)'),
    dict(name='mcunetv2-s', resolution=240, input_hw=[240, 320], stem='conv_k3_c8_s2', num_classes=None,
         blocks=('ir_k3_e1_c8', 'ir_k5_e4_c16_s2', 'ir_k3_e4_c24_s2',             # per-patch stage
                 'ir_k7_e3_c24', 'ir_k5_e3_c24',                                  # stride 8
                 'ir_k7_e4_c48_s2', 'ir_k5_e4_c48', 'ir_k3_e4_c64', 'ir_k5_e4_c64',  # stride 16
                 'ir_k7_e4_c96_s2', 'ir_k5_e4_c96', 'ir_k3_e4_c160'),             # stride 32
         schedule=dict(split=4, grid=[3, 3], budget_kb=168), out_indices=[5, 9, 12],
         source='mcudet design for the MCUNetV2 paper\'s WIDER Face budget (MCUNetV2-S: 110M MACs, 168 kB)'),
)


def _designed_factory(row: dict[str, Any]) -> Callable[[], ArchSpec]:
    def build() -> ArchSpec:
        extra: dict[str, Any] = {'input_hw': list(row['input_hw']),
                                 'patch_schedule': dict(row['schedule'], grid=list(row['schedule']['grid']),
                                                        input_hw=list(row['input_hw']))}
        if row['out_indices'] is not None:
            extra['out_indices'] = list(row['out_indices'])
        return spec_from_strings(row['name'], row['stem'], row['blocks'], resolution=row['resolution'],
                                 num_classes=row['num_classes'], extra=extra)
    return build


for _row in _DESIGNED:
    register_spec(_row['name'], _designed_factory(_row), source=_row['source'])

DESIGNED_SPECS: tuple[str, ...] = tuple(row['name'] for row in _DESIGNED)
del _w, _row, _alias
