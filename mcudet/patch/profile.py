"""Memory profile of one network: per-block table, peaks, schedule sweep, JSON and a Fig. 1 plot.

The logic behind ``tools/analysis_tools/memory_profile.py``: resolve what the user named (a
zoo name, a spec JSON, or an mmengine config whose ``model.backbone`` is an
``MCUNetV2Backbone`` or a ``PatchBasedBackbone`` around one), run the analytic memory model
(:mod:`mcudet.patch.memory`, the paper's convention) for the per-layer schedule and for the
requested patch schedule, and present the result.

No torch here: configs are read with :class:`mmengine.config.Config` without building the
model (custom imports are not executed), and matplotlib is imported only to plot.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from mcudet.arch.graph import Unit, build_units
from mcudet.arch.spec import ArchSpec, SpecError
from mcudet.arch.zoo import load_spec

from .memory import CONVENTION, KB, MemoryReport, memory_report, network_tables
from .plan import make_patch_plan, normalize_grid
from .search import Schedule, format_candidates, search_schedule, sweep

PROFILE_FORMAT = 'mcudet.memory_profile/1'
FRAME_NOTE = ('patch_peak_bytes: input frame streamed patch by patch, not counted (the paper\'s '
              'convention); patch_peak_with_input_bytes: the whole input frame resident')
Grid = Union[tuple[int, int], str]  # (rows, cols) or 'auto'
AUTO = 'searched'  # split_reason prefix of an --patches auto schedule


class ProfileError(ValueError):
    """Bad input to the profiler (an argument, a config); the message says what to change."""


# ---------------------------------------------------------------------- argument parsing
def parse_input_size(text: str) -> tuple[int, int]:
    """``'224'`` -> (224, 224); ``'224x160'`` -> (224, 160) as height x width."""
    m = re.fullmatch(r'\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?', str(text))
    if m is None or int(m.group(1)) < 1 or (m.group(2) is not None and int(m.group(2)) < 1):
        raise ProfileError(f'input size {text!r}: use a side (224) or HEIGHTxWIDTH (224x160)')
    h = int(m.group(1))
    return (h, int(m.group(2)) if m.group(2) is not None else h)


def parse_patches(text: str) -> Grid:
    """``'4x4'`` -> (4, 4), ``'3x5'`` -> (3, 5), ``'4'`` -> (4, 4), ``'auto'`` -> 'auto'."""
    if str(text).strip().lower() == 'auto':
        return 'auto'
    m = re.fullmatch(r'\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?', str(text))
    if m is None or int(m.group(1)) < 1 or (m.group(2) is not None and int(m.group(2)) < 1):
        raise ProfileError(f'patches {text!r}: use ROWSxCOLS (e.g. 4x4, 3x5) or auto')
    rows = int(m.group(1))
    return (rows, int(m.group(2)) if m.group(2) is not None else rows)


_UNITS = {'': 1, 'b': 1, 'k': KB, 'kb': KB, 'kib': KB, 'm': KB * KB, 'mb': KB * KB, 'mib': KB * KB}


def parse_bytes(text: str) -> int:
    """``'256kB'`` -> 262144 (kB = 1024 bytes, as everywhere in mcudet); also 'B', 'MB', plain bytes."""
    m = re.fullmatch(r'\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*', str(text))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS or float(m.group(1)) <= 0:
        raise ProfileError(f'budget {text!r}: use a size such as 256kB, 0.5MB or 262144 (kB = 1024 bytes)')
    return int(round(float(m.group(1)) * _UNITS[unit]))


def parse_grid_value(value: Any, where: str) -> Optional[Grid]:
    """A grid from a config value: None, an int n, a pair, 'NxM' or 'auto'."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_patches(value)
        except ProfileError as e:
            raise ProfileError(f'{where}: {e}') from None
    try:
        return normalize_grid(tuple(value) if isinstance(value, (list, tuple)) else value)
    except ValueError as e:
        raise ProfileError(f'{where}: {e}') from None


# ---------------------------------------------------------------------- what to profile
@dataclass(frozen=True)
class Target:
    """The network to profile and the schedule settings that came with it.

    Args:
        spec: The architecture.
        source: What was read (a zoo name, a file path, a config path).
        grid: Patch grid of a ``PatchBasedBackbone`` config ((rows, cols) or 'auto'); None: none.
        split: Its split: an int, 'auto', or None (not a PatchBasedBackbone).
        budget_bytes: Its budget for 'auto' (None: not given).
        input_hw: Its ``input_size`` (None: not given).
        out_indices: Backbone outputs (config ``out_indices``, else the spec's ``extra``).
        max_split: Largest split an 'auto' split may take (PatchBasedBackbone: the earliest
            requested output must not lie inside the per-patch stage).
    """

    spec: ArchSpec
    source: str
    grid: Optional[Grid] = None
    split: Union[int, str, None] = None
    budget_bytes: Optional[int] = None
    input_hw: Optional[tuple[int, int]] = None
    out_indices: Optional[tuple[int, ...]] = None
    max_split: Optional[int] = None


def _spec_out_indices(spec: ArchSpec) -> Optional[tuple[int, ...]]:
    outs = spec.extra.get('out_indices')
    return tuple(int(i) for i in outs) if outs else None


def _scope_free(type_: Any) -> str:
    """'mcudet.MCUNetV2Backbone' or the class itself (lazy-import configs) -> 'MCUNetV2Backbone'."""
    return getattr(type_, '__name__', None) or str(type_).rsplit('.', 1)[-1]


def _config_schedule(wrapper: Any, where: str) -> dict[str, Any]:
    """patches / split / budget / input_size of a PatchBasedBackbone, with its defaults."""
    grid = parse_grid_value(wrapper.get('patches', 'auto'), f'{where}.patches')
    split = wrapper.get('split', 'auto')
    if split != 'auto' and (isinstance(split, bool) or not isinstance(split, int)):
        raise ProfileError(f"{where}.split={split!r}: give 'auto' or an integer number of units")
    budget = wrapper.get('budget', '256kB')
    try:
        budget = budget if isinstance(budget, int) and budget > 0 else parse_bytes(budget)
        size = wrapper.get('input_size')
        hw = None if size is None else parse_input_size(size if isinstance(size, (int, str))
                                                         else 'x'.join(map(str, size)))
    except ProfileError as e:
        raise ProfileError(f'{where}: {e}') from None
    return dict(grid=grid, split=split, budget_bytes=budget, input_hw=hw)


def _config_target(path: Path) -> Target:
    """Read ``model.backbone`` of an mmengine config without building anything."""
    from mmengine.config import Config  # lazy: only configs need mmengine
    try:
        cfg = Config.fromfile(str(path), import_custom_modules=False)
    except Exception as e:  # a config is arbitrary Python; report whatever it raised
        raise ProfileError(f'{path}: cannot read the config ({type(e).__name__}: {e})') from None
    model = cfg.get('model')
    backbone = model.get('backbone') if hasattr(model, 'get') else None
    if backbone is None:
        raise ProfileError(f'{path}: no model.backbone in the config; memory_profile needs '
                           'model.backbone = dict(type=\'MCUNetV2Backbone\', arch=...)')
    field = 'model.backbone'
    sched: dict[str, Any] = {}
    btype = _scope_free(backbone.get('type'))
    if btype == 'PatchBasedBackbone':
        sched = _config_schedule(backbone, f'{path}: {field}')
        inner = backbone.get('backbone')
        field += '.backbone'
        if inner is None:
            raise ProfileError(f'{path}: {field} is missing; PatchBasedBackbone wraps '
                               'backbone=dict(type=\'MCUNetV2Backbone\', arch=...)')
        backbone, btype = inner, _scope_free(inner.get('type'))
    if btype != 'MCUNetV2Backbone':
        raise ProfileError(f'{path}: {field}.type={backbone.get("type")!r}; memory_profile reads '
                           'architectures of MCUNetV2Backbone (arch=...) only, directly or inside '
                           'PatchBasedBackbone. Profile the architecture by zoo name or spec JSON instead.')
    arch = backbone.get('arch')
    if arch is None:
        raise ProfileError(f'{path}: {field}.arch is missing (a zoo name, a .json path or a spec dict)')
    if hasattr(arch, 'to_dict'):  # mmengine ConfigDict -> plain dict
        arch = arch.to_dict()
    if isinstance(arch, str) and not Path(arch).is_file() and (path.parent / arch).is_file():
        arch = str(path.parent / arch)
    try:
        spec = load_spec(arch)
    except SpecError as e:
        raise ProfileError(f'{path}: {field}.arch: {e}') from None
    n = len(build_units(spec))
    outs = backbone.get('out_indices')
    if outs is not None:
        outs = (outs,) if isinstance(outs, int) else tuple(outs)
        bad = [i for i in outs if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n]
        if bad:
            raise ProfileError(f'{path}: {field}.out_indices={outs!r}: {bad} not in -{n}..{n - 1} '
                               f'({spec.name!r} has {n} units: 0 = stem, i + 1 = blocks[i])')
        outs = tuple(sorted(i % n for i in outs))
    # MCUNetV2Backbone returns the last unit by default; an 'auto' split stops at the earliest output.
    max_split = min(outs) + 1 if outs else n
    return Target(spec, str(path), out_indices=outs or _spec_out_indices(spec), max_split=max_split,
                  **sched)


def resolve_target(name: str) -> Target:
    """A zoo name, an ArchSpec / ProxylessNAS ``.json`` path or an mmengine config ``.py`` path."""
    path = Path(name)
    if path.suffix == '.py':
        if not path.is_file():
            raise ProfileError(f'{name}: config file not found')
        return _config_target(path)
    spec = load_spec(name)  # SpecError names the unknown name / the bad file
    return Target(spec, name, out_indices=_spec_out_indices(spec))


def default_input_hw(spec: ArchSpec) -> tuple[int, int]:
    """The spec's recommended input: ``extra['input_hw']`` if recorded, else its square resolution."""
    hw = spec.extra.get('input_hw')
    return (int(hw[0]), int(hw[1])) if hw else (spec.resolution, spec.resolution)


def default_split(spec: ArchSpec, units: Sequence[Unit]) -> tuple[int, str]:
    """(split, why): the spec's recorded split, else per patch up to the first stride-8 unit.

    Ending the per-patch stage where the network first reaches stride 8 is the paper's choice
    for MobileNetV2 (split 5, 28x28 at 224) and MbV2-RD (split 4).
    """
    sched = spec.extra.get('patch_schedule') or {}
    if sched.get('split'):
        return int(sched['split']), "recorded in the spec's extra['patch_schedule']"
    stride = 1
    for unit in units:
        stride *= unit.stride
        if stride >= 8:
            return unit.index + 1, f'per patch up to the first stride-8 unit ({unit.name})'
    return len(units), 'the network never reaches stride 8: every unit per patch'


# ---------------------------------------------------------------------- the profile
@dataclass(frozen=True)
class Profile:
    """Everything the tool prints, writes and plots for one network and one schedule.

    Args:
        target: What was profiled.
        input_hw: Input (height, width).
        report: The chosen schedule's report (the per-layer one when no patches were asked).
        budget_bytes: The SRAM budget the fits / sweep columns use.
        search: ``search_schedule`` under the budget (splits up to ``target.max_split``): the
            hint and the sweep.
        split_reason: How the split was chosen (None when given explicitly or per-layer).
        units: The unit graph at ``input_hw``.
    """

    target: Target
    input_hw: tuple[int, int]
    report: MemoryReport
    budget_bytes: int
    search: Optional[Schedule]
    split_reason: Optional[str]
    units: tuple[Unit, ...]

    @property
    def patched(self) -> bool:
        return self.report.split > 0


def _best_split_for_grid(spec: ArchSpec, hw: tuple[int, int], grid: tuple[int, int], budget: int,
                         splits: Sequence[int]) -> MemoryReport:
    """PatchBasedBackbone's rule for a fixed grid and an 'auto' split: the fewest MACs that fit."""
    rows = [r for c, _, r in sweep(spec, hw, budget, max_grid=max(grid), splits=splits,
                                   rectangular=grid[0] != grid[1]) if c.grid == grid]
    if not rows:
        raise ProfileError(f'a {grid[0]}x{grid[1]} grid fits no split up to {max(splits)}: every stage '
                           'output is smaller than the grid; use fewer patches')
    fitting = [r for r in rows if r.patch_peak_bytes <= budget]
    if fitting:
        return min(fitting, key=lambda r: (r.patch_macs, r.patch_peak_bytes))
    return min(rows, key=lambda r: (r.patch_peak_bytes, r.patch_macs))


def make_profile(target: Target, input_hw: Optional[tuple[int, int]] = None, grid: Optional[Grid] = None,
                 split: Optional[int] = None, budget_bytes: Optional[int] = None, search: bool = True
                 ) -> Profile:
    """Profile ``target`` per layer (no grid) or on a patch grid (``'auto'``: searched).

    A ``PatchBasedBackbone`` config's settings apply where none is given here, with that
    module's meaning ('auto' split: the cheapest split that fits, never past the earliest
    output). Without a config, a grid without a split uses :func:`default_split`.

    Args:
        target: From :func:`resolve_target`.
        input_hw: Input (H, W); default the config's ``input_size``, else :func:`default_input_hw`.
        grid: (rows, cols), 'auto' or None.
        split: Units per patch.
        budget_bytes: SRAM budget for 'auto', the fit check, the hint and the sweep
            (default: the config's, else 256 kB).
        search: Run the schedule search (needed for 'auto', the hint and the sweep).
    """
    spec = target.spec
    hw = input_hw or target.input_hw or default_input_hw(spec)
    budget = budget_bytes or target.budget_bytes or 256 * KB
    if grid is None and split is not None and target.grid is None:
        raise ProfileError(f'split={split} needs a patch grid: give --patches ROWSxCOLS or --patches auto')
    grid = grid if grid is not None else target.grid
    split = split if split is not None else target.split
    tables = network_tables(spec, hw)
    units = tables.units
    auto_splits = list(range(1, (target.max_split or len(units)) + 1))
    reason = None
    sched = search_schedule(spec, hw, budget, splits=auto_splits) if search else None
    if grid is None:
        report = memory_report(spec, hw, tables=tables)
    elif grid == 'auto':
        if split != 'auto' and split is not None:
            found = search_schedule(spec, hw, budget, splits=[split])
        else:
            found = sched or search_schedule(spec, hw, budget, splits=auto_splits)
        report = found.report
        reason = (f'{AUTO} under {budget / KB:g} kB' + (f' with split {split}' if split != 'auto' and split
                                                       else '')
                  + ('' if found.fits else ': nothing fits, lowest peak shown'))
    elif split == 'auto':
        report = _best_split_for_grid(spec, hw, grid, budget, auto_splits)
        reason = f'the config\'s split=\'auto\': cheapest split for this grid under {budget / KB:g} kB'
    else:
        if split is None:
            split, reason = default_split(spec, units)
        report = memory_report(spec, hw, make_patch_plan(spec, hw, grid, split), tables=tables)
    return Profile(target, hw, report, budget, sched, reason, tuple(units))


def peak_with_outputs(report: MemoryReport, units: Sequence[Unit], out_indices: Sequence[int]
                      ) -> tuple[int, str]:
    """Peak when the ``out_indices`` feature maps stay alive for a neck (an upper bound).

    A returned feature is kept from the end of its unit to the end of the network. It is not
    added where it is already counted: as the input of the next per-layer unit's first layer,
    or as that unit's kept residual. Inside the per-patch stage a returned map other than the
    stage output needs its own full buffer. The neck and head themselves are not counted.
    """
    fb = {o: units[o].out_channels * units[o].out_hw[0] * units[o].out_hw[1] for o in out_indices}
    best, where = 0, ''
    for row in report.blocks:
        res = row.residual and not row.per_patch
        for k, layer in enumerate(row.layers):
            kept = sum(b for o, b in fb.items() if o < row.index
                       and not (o == row.index - 1 and not row.per_patch and (k == 0 or res)))
            if layer.patch_bytes + kept > best:
                best, where = layer.patch_bytes + kept, layer.name
    return best, where


def stride_of(units: Sequence[Unit], index: int) -> int:
    """Cumulative stride of unit ``index``'s output."""
    stride = 1
    for unit in units[:index + 1]:
        stride *= unit.stride
    return stride


# ---------------------------------------------------------------------- text
def _kb(n: int) -> str:
    return f'{n / KB:.1f} kB ({n:,} B)'


def _shape(s: Sequence[int]) -> str:
    return 'x'.join(map(str, s))


def format_table(p: Profile) -> str:
    """One row per unit (and the classifier): output shape, per-layer and patch-based kB, MACs."""
    r = p.report
    head = (f'{"#":>3}  {"unit":<12} {"stage":<6} {"output":>12} {"per-layer kB":>13} {"patch kB":>9} '
            f'{"MACs M":>8} {"patch MACs M":>13}')
    lines = [head, '-' * len(head)]
    for b in r.blocks:
        mark = []
        if any(ly.name == r.per_layer_peak_layer for ly in b.layers):
            mark.append('per-layer peak')
        if p.patched and any(ly.name == r.patch_peak_layer for ly in b.layers):
            mark.append('patch peak')
        lines.append(f'{b.index:>3}  {b.name:<12} {"patch" if b.per_patch else "layer":<6} '
                     f'{_shape(b.out_shape):>12} {b.per_layer_bytes / KB:>13.1f} {b.patch_bytes / KB:>9.1f} '
                     f'{b.macs / 1e6:>8.2f} {b.patch_macs / 1e6:>13.2f}'
                     + (f'  <- {", ".join(mark)}' if mark else ''))
    return '\n'.join(lines)


def _line(label: str, text: str) -> str:
    return f'{label + ":":<28}{text}'


def _mb(n: int) -> str:
    return f'{n / 1e6:.1f}M'


def format_summary(p: Profile) -> str:
    """Peaks (with their convention), the schedule, MACs overhead, fit and the search hint."""
    r, spec = p.report, p.target.spec
    h, w = p.input_hw
    out = [f'{spec.name} at {h}x{w} (input HxW), int8 activations, kB = 1024 B ({p.target.source})',
           _line('per-layer peak', f'{_kb(r.per_layer_peak_bytes)} at {r.per_layer_peak_layer}')]
    if p.patched:
        last = p.units[r.split - 1]
        buf = _shape((last.out_channels, *last.out_hw))
        why = f'; {p.split_reason}' if p.split_reason else ''
        stage_over = 100 * (r.stage_patch_macs / r.stage_macs - 1)
        out += [
            _line('patch-based peak', f'{_kb(r.patch_peak_bytes)} at {r.patch_peak_layer}'
                  '  [paper convention: input frame streamed, not counted]'),
            _line('  with the frame resident', f'{_kb(r.patch_peak_with_input_bytes)}  [+ the '
                  f'{spec.in_channels}x{h}x{w} frame of {r.input_frame_bytes / KB:.1f} kB through the '
                  'per-patch stage]'),
            _line('  per-patch stage', f'{r.patch_stage_peak_bytes / KB:.1f} kB (worst tile + the {buf} '
                  f'stage buffer of {r.stage_output_bytes / KB:.1f} kB); per-layer stage: '
                  f'{r.layer_stage_peak_bytes / KB:.1f} kB'),
            _line('schedule', f'split {r.split} (units 0..{r.split - 1}: stem..{last.name} per patch{why}), '
                  f'grid {r.grid[0]}x{r.grid[1]}, input patch {_shape(r.input_patch_size)}'),
            _line('reduction', f'{r.per_layer_peak_bytes / r.patch_peak_bytes:.1f}x lower peak'),
            _line('MACs', f'{_mb(r.macs)} per-layer -> {_mb(r.patch_macs)} patch-based '
                  f'({100 * r.mac_overhead:+.1f} %); per-patch stage {_mb(r.stage_macs)} -> '
                  f'{_mb(r.stage_patch_macs)} ({stage_over:+.1f} %; {_mb(r.stage_patch_macs_unclipped)} '
                  'counting every tile unclipped, as the paper does)'),
        ]
    else:
        out.append(_line('MACs', f'{_mb(r.macs)} (per-layer schedule, no patches)'))
    over = r.patch_peak_bytes - p.budget_bytes
    out.append(_line(f'budget {p.budget_bytes / KB:g} kB', ('fits' if over <= 0 else
                     f'does NOT fit ({over / KB:.1f} kB over)') + ' (paper convention)'))
    outs = p.target.out_indices
    if outs:
        kept, where = peak_with_outputs(r, p.units, outs)
        strides = '/'.join(str(stride_of(p.units, o)) for o in outs)
        out.append(f'with out_indices {tuple(outs)} (strides {strides}) kept for a neck: {_kb(kept)} at '
                   f'{where} (upper bound; neck and head not counted)')
    s = p.search
    auto = bool(p.split_reason and p.split_reason.startswith(AUTO))
    if auto and not p.patched:
        out.append(f'auto: the per-layer schedule fits {p.budget_bytes / KB:g} kB; no patches needed')
    if s is not None and not auto:
        sr = s.report
        best = ('per-layer (no patches needed)' if s.split == 0 else
                f'split {s.split} grid {s.grid[0]}x{s.grid[1]}: peak {sr.patch_peak_bytes / KB:.1f} kB, '
                f'{100 * sr.mac_overhead:+.1f} % MACs, input patch '
                f'{sr.input_patch_size[0]}x{sr.input_patch_size[1]}')
        out.append(f'hint: cheapest schedule under {p.budget_bytes / KB:g} kB: {best}'
                   + ('' if s.fits else ' (nothing fits; lowest peak shown)')
                   + ('; try --patches auto or --sweep' if not p.patched and s.split else ''))
        rec = spec.extra.get('patch_schedule')
        if rec:
            grid = 'x'.join(map(str, rec['grid']))
            out.append(f"hint: the spec records split {rec.get('split')} grid {grid} "
                       f"(chosen under {rec.get('budget_kb')} kB)")
    return '\n'.join(out)


def format_sweep(p: Profile, limit: Optional[int] = 30) -> str:
    """The (split, grid) trade-off table of the search, fitting schedules first."""
    if p.search is None:
        raise ProfileError('no search was run; make the profile with search=True')
    n = len(p.search.candidates)
    text = (f'sweep under {p.budget_bytes / KB:g} kB (peak: paper convention; +frame: frame resident), '
            f'{n} schedules:\n' + format_candidates(p.search, limit))
    if limit is not None and n > limit:
        text += f'\n... {n - limit} more (all of them in --json "sweep")'
    return text


# ---------------------------------------------------------------------- JSON
def profile_to_dict(p: Profile, sweep: bool = False) -> dict[str, Any]:
    """A JSON-able dict: peaks, MACs, schedule, one entry per block, optional sweep rows."""
    r = p.report
    d: dict[str, Any] = {
        'format': PROFILE_FORMAT,
        'spec_name': r.spec_name,
        'source': p.target.source,
        'input_hw': list(p.input_hw),
        'convention': CONVENTION,
        'input_frame': FRAME_NOTE,
        'schedule': 'patch-based' if p.patched else 'per-layer',
        'split': r.split,
        'grid': list(r.grid) if r.grid else None,
        'split_reason': p.split_reason,
        'budget_bytes': p.budget_bytes,
        'fits_budget': r.patch_peak_bytes <= p.budget_bytes,
        'per_layer_peak_bytes': r.per_layer_peak_bytes,
        'per_layer_peak_layer': r.per_layer_peak_layer,
        'patch_peak_bytes': r.patch_peak_bytes,
        'patch_peak_layer': r.patch_peak_layer,
        'patch_peak_with_input_bytes': r.patch_peak_with_input_bytes,
        'input_frame_bytes': r.input_frame_bytes,
        'stage_output_bytes': r.stage_output_bytes,
        'patch_stage_peak_bytes': r.patch_stage_peak_bytes,
        'layer_stage_peak_bytes': r.layer_stage_peak_bytes,
        'input_patch_size': list(r.input_patch_size),
        'macs': r.macs,
        'patch_macs': r.patch_macs,
        'patch_macs_unclipped': r.patch_macs_unclipped,
        'mac_overhead': r.mac_overhead,
        'stage_macs': r.stage_macs,
        'stage_patch_macs': r.stage_patch_macs,
        'blocks': [{'index': b.index, 'name': b.name, 'stage': 'patch' if b.per_patch else 'layer',
                    'residual': b.residual, 'in_shape': list(b.in_shape), 'out_shape': list(b.out_shape),
                    'per_layer_bytes': b.per_layer_bytes, 'patch_bytes': b.patch_bytes,
                    'macs': b.macs, 'patch_macs': b.patch_macs} for b in r.blocks],
    }
    outs = p.target.out_indices
    if outs:
        kept, where = peak_with_outputs(r, p.units, outs)
        d['out_indices'] = list(outs)
        d['out_strides'] = [stride_of(p.units, o) for o in outs]
        d['peak_with_outputs_bytes'], d['peak_with_outputs_layer'] = kept, where
    s = p.search
    if s is not None:
        d['best_schedule'] = {'split': s.split, 'grid': list(s.grid) if s.grid else None, 'fits': s.fits,
                              'peak_bytes': s.report.patch_peak_bytes, 'patch_macs': s.report.patch_macs,
                              'mac_overhead': s.report.mac_overhead,
                              'input_patch_size': list(s.report.input_patch_size)}
        if sweep:
            d['sweep'] = [{'split': c.split, 'grid': list(c.grid) if c.grid else None,
                           'peak_bytes': c.peak_bytes, 'peak_with_input_bytes': c.peak_with_input_bytes,
                           'macs': c.macs, 'patch_macs': c.patch_macs, 'mac_overhead': c.mac_overhead,
                           'input_patch_size': list(c.input_patch_size), 'fits': c.fits}
                          for c in s.candidates]
    return d


def write_json(path: Union[str, Path], data: dict[str, Any]) -> Path:
    """Write ``data`` atomically (a temporary file in the same folder, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(data, f, indent=2)
            f.write('\n')
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------- plot
def _short(name: str) -> str:
    if name.startswith('blocks.'):
        return 'B' + name.split('.', 1)[1]
    return {'feature_mix': 'mix', 'classifier': 'cls'}.get(name, name)


def plot_profile(p: Profile, path: Union[str, Path], log: Optional[bool] = None) -> Path:
    """A bar chart like the paper's Fig. 1: per-block memory, per-layer vs patch-based, SRAM line.

    Args:
        p: The profile.
        path: Output image (the format follows the suffix).
        log: Logarithmic y axis; None picks linear (as the paper's figure) unless the tallest
            bar is over 50x the smallest, where small bars would vanish.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    r = p.report
    blocks = r.blocks
    x = list(range(len(blocks)))
    per_layer = [b.per_layer_bytes / KB for b in blocks]
    patch = [b.patch_bytes / KB for b in blocks]
    budget = p.budget_bytes / KB
    if log is None:
        log = max(per_layer) > 50 * min(per_layer + patch)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.45 * len(blocks) + 3), 5.0), dpi=120)
    if p.patched:
        ax.axvspan(-0.5, r.split - 0.5, color='#e8f3e8', zorder=0,
                   label=f'per-patch stage ({r.grid[0]}x{r.grid[1]} patches, split {r.split})')
        width = 0.4
        ax.bar([i - width / 2 for i in x], per_layer, width, color='#9aa5b1', label='per-layer', zorder=2)
        ax.bar([i + width / 2 for i in x], patch, width, color='#2f7ed8', label='patch-based', zorder=2)
    else:
        ax.bar(x, per_layer, 0.6, color='#9aa5b1', label='per-layer', zorder=2)
    ax.axhline(budget, color='#d62728', linestyle='--', linewidth=1.5, zorder=3,
               label=f'SRAM budget {budget:g} kB')
    ymax = max(per_layer + [budget])
    if log:
        from matplotlib.ticker import FuncFormatter
        ax.set_yscale('log')
        ax.set_ylim(min(per_layer + patch) / 1.6, ymax * 3.0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f'{v:g}'))
    else:
        ax.set_ylim(0, ymax * 1.18)
    peak_i = max(x, key=lambda i: per_layer[i])
    ax.annotate(f'{per_layer[peak_i]:.0f} kB', (peak_i - (0.2 if p.patched else 0), per_layer[peak_i]),
                textcoords='offset points', xytext=(0, 3), ha='center', fontsize=8, color='#444444')
    if p.patched:
        pi = max(x, key=lambda i: patch[i])
        ax.annotate(f'{patch[pi]:.1f} kB', (pi + 0.2, patch[pi]), textcoords='offset points', xytext=(0, 3),
                    ha='center', fontsize=8, color='#2f7ed8', fontweight='bold',
                    bbox=dict(boxstyle='round,pad=0.1', fc='white', ec='none', alpha=0.8), zorder=4)
    ax.set_xticks(x)
    ax.set_xticklabels([_short(b.name) for b in blocks], rotation=45 if len(blocks) > 14 else 0,
                       ha='right' if len(blocks) > 14 else 'center', fontsize=8)
    ax.set_xlim(-0.6, len(blocks) - 0.4)
    ax.set_xlabel('block (stem, inverted-residual blocks B0.., feature mix, classifier)')
    ax.set_ylabel('peak activation memory per block (kB, int8)' + (', log scale' if log else ''))
    h, w = p.input_hw
    title = f'{r.spec_name} at {h}x{w}: per-layer peak {r.per_layer_peak_bytes / KB:.0f} kB'
    if p.patched:
        ratio = r.per_layer_peak_bytes / r.patch_peak_bytes
        title += (f' -> patch-based {r.patch_peak_bytes / KB:.1f} kB '
                  f'({ratio:.1f}x lower, {100 * r.mac_overhead:+.1f} % MACs)')
    ax.set_title(title, fontsize=10)
    if p.patched:
        fig.text(0.99, 0.01, 'patch-based: input frame streamed (paper convention); '
                 'per-patch bars = worst tile + stage output buffer', ha='right', va='bottom', fontsize=7,
                 color='#666666')
    ax.grid(axis='y', color='#dddddd', linewidth=0.6, zorder=1)
    ax.legend(loc='upper right', fontsize=8, framealpha=0.95)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
