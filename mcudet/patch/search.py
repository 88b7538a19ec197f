"""Schedule search: which split and grid make a network fit an SRAM budget most cheaply.

Objective. Patches lower the activation peak but recompute the overlapping halos of
neighbouring tiles, so every patch schedule costs extra MACs (latency). Among the
schedules whose peak fits the budget, the search picks the one with the fewest MACs
(the least recomputation); ties go to the lower peak, then to fewer tiles, then to
the earlier split. If nothing fits, it returns the schedule with the lowest peak
(ties: fewer MACs) and says so (``fits=False``). The per-layer schedule (no patches)
is a candidate too and wins whenever it fits, since it recomputes nothing.

The peak follows :mod:`mcudet.patch.memory` (paper convention, input frame streamed);
``count_input_frame=True`` uses the peak with the whole frame resident instead.
MACs are the exact clipped counts that the executors perform.

Grids are n x n by default (the paper's and TinyEngine's space); ``rectangular=True``
adds every rows x cols up to ``max_grid``.

MobileNetV2 at 224 (tests/patch/test_patch_search.py):

* 180 kB: split 5 on 4x4 tiles, the paper's choice: 175,616 bytes (171.5 kB), set by
  the per-layer stage (block 4's expand); +9.3 % MACs. Every fitting schedule has the
  same peak (the per-layer stage caps it), so fewest MACs decides.
* 256 kB: split 5 on 3x3 tiles, 232,176 bytes (the per-patch stage's block 1 expand on
  a 43x43 window + the 28x28x32 buffer): fewer, larger tiles recompute less (+6.0 %).
* With ``rectangular=True`` at 180 kB, 3x5 tiles beat 4x4 by 0.08 % MACs
  (328,441,344 vs 328,693,616) at the same 171.5 kB peak; its per-patch stage needs
  170.3 kB instead of 158.5 kB, so 4x4 keeps more headroom.
* With the frame resident (``count_input_frame=True``) 320 kB gives split 5 on 4x4
  (312,816 bytes); the 224x224x3 frame alone is 147 kB.

No torch here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional, Union

from mcudet.arch.spec import ArchSpec

from .memory import KB, MemoryReport, memory_report, network_tables
from .plan import PatchPlan, check_grid, normalize_input_hw, plan_from_units
from .receptive import PatchPlanError, check_split


@dataclass(frozen=True)
class Candidate:
    """One schedule of the sweep (``split == 0`` and ``grid is None``: per-layer)."""

    split: int
    grid: Optional[tuple[int, int]]
    peak_bytes: int
    peak_with_input_bytes: int
    macs: int
    patch_macs: int
    input_patch_size: tuple[int, int]
    fits: bool

    @property
    def mac_overhead(self) -> float:
        return self.patch_macs / self.macs - 1.0

    @property
    def num_tiles(self) -> int:
        return 0 if self.grid is None else self.grid[0] * self.grid[1]


@dataclass(frozen=True)
class Schedule:
    """The chosen schedule, its plan (None for per-layer) and report, and the whole sweep."""

    spec_name: str
    input_hw: tuple[int, int]
    budget_bytes: int
    count_input_frame: bool
    split: int
    grid: Optional[tuple[int, int]]
    fits: bool
    plan: Optional[PatchPlan]
    report: MemoryReport
    candidates: tuple[Candidate, ...]

    @property
    def peak_bytes(self) -> int:
        r = self.report
        return r.patch_peak_with_input_bytes if self.count_input_frame else r.patch_peak_bytes

    def to_dict(self) -> dict[str, Any]:
        return {'spec_name': self.spec_name, 'input_hw': list(self.input_hw),
                'budget_bytes': self.budget_bytes, 'count_input_frame': self.count_input_frame,
                'split': self.split, 'grid': list(self.grid) if self.grid else None, 'fits': self.fits,
                'peak_bytes': self.peak_bytes,
                'plan': self.plan.to_dict() if self.plan is not None else None,
                'report': self.report.to_dict(),
                'candidates': [dict(asdict(c), mac_overhead=c.mac_overhead) for c in self.candidates]}


def _key_fit(c: Candidate) -> tuple:
    return (c.patch_macs, c.peak_bytes, c.num_tiles, c.split)


def _key_nofit(c: Candidate) -> tuple:
    return (c.peak_bytes, c.patch_macs, c.num_tiles, c.split)


def _candidate(report: MemoryReport, budget: int, count_input_frame: bool) -> Candidate:
    peak = report.patch_peak_with_input_bytes if count_input_frame else report.patch_peak_bytes
    return Candidate(report.split, report.grid, report.patch_peak_bytes, report.patch_peak_with_input_bytes,
                     report.macs, report.patch_macs, report.input_patch_size, peak <= budget)


def _grids(max_grid: int, rectangular: bool) -> list[tuple[int, int]]:
    if rectangular:
        return [(r, c) for r in range(1, max_grid + 1) for c in range(1, max_grid + 1) if (r, c) != (1, 1)]
    return [(n, n) for n in range(2, max_grid + 1)]


def sweep(spec: ArchSpec, input_hw: Union[None, int, Sequence[int]] = None, budget_bytes: int = 256 * KB,
          max_grid: int = 8, splits: Optional[Sequence[int]] = None, rectangular: bool = False,
          count_input_frame: bool = False) -> list[tuple[Candidate, Optional[PatchPlan], MemoryReport]]:
    """Evaluate the per-layer schedule and every (split, grid) up to ``max_grid`` tiles a side.

    Splits whose per-patch stage contains squeeze-excite, and grids larger than the
    stage output, are skipped (they are not schedules). 1x1 grids are left out: they
    cost the stage-output buffer and save nothing.
    """
    hw = normalize_input_hw(spec, input_hw)
    tables = network_tables(spec, hw)
    units = tables.units
    per_layer = memory_report(spec, hw, tables=tables)
    out = [(_candidate(per_layer, budget_bytes, count_input_frame), None, per_layer)]
    cache: dict = {}
    for split in (splits if splits is not None else range(1, len(units) + 1)):
        try:
            check_split(units, split, spec.name)
        except PatchPlanError:
            continue
        for grid in _grids(max_grid, rectangular):
            try:
                check_grid(units, split, grid)
            except PatchPlanError:
                continue
            plan = plan_from_units(spec.name, units, hw, grid, split, cache)
            report = memory_report(spec, hw, plan, tables=tables)
            out.append((_candidate(report, budget_bytes, count_input_frame), plan, report))
    return out


def search_schedule(spec: ArchSpec, input_hw: Union[None, int, Sequence[int]] = None,
                    budget_bytes: int = 256 * KB, max_grid: int = 8,
                    splits: Optional[Sequence[int]] = None, rectangular: bool = False,
                    count_input_frame: bool = False) -> Schedule:
    """Find the cheapest schedule of ``spec`` that fits ``budget_bytes`` (see the module docstring).

    Args:
        spec: The network.
        input_hw: Input size (None: ``spec.resolution``).
        budget_bytes: SRAM available for activations, in bytes (kB = 1024 bytes).
        max_grid: Largest number of tile rows and of tile columns tried.
        splits: Splits to try (default: all units); the per-layer schedule is always tried.
        rectangular: Also try rows != cols grids (default: n x n only, as the paper and
            TinyEngine do; see the module docstring for what changes).
        count_input_frame: Budget the peak with the whole input frame resident.
    """
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int) or budget_bytes <= 0:
        raise PatchPlanError(f'budget_bytes={budget_bytes!r} must be a positive number of bytes '
                             f'(e.g. 256 * 1024 for 256 kB)')
    if isinstance(max_grid, bool) or not isinstance(max_grid, int) or max_grid < 1:
        raise PatchPlanError(f'max_grid={max_grid!r} must be a positive integer')
    hw = normalize_input_hw(spec, input_hw)
    results = sweep(spec, hw, budget_bytes, max_grid, splits, rectangular, count_input_frame)
    fitting = [r for r in results if r[0].fits]
    if fitting:
        cand, plan, report = min(fitting, key=lambda r: _key_fit(r[0]))
    else:
        cand, plan, report = min(results, key=lambda r: _key_nofit(r[0]))
    return Schedule(spec.name, hw, budget_bytes, count_input_frame, cand.split, cand.grid, cand.fits, plan,
                    report, tuple(r[0] for r in results))


def format_candidates(schedule: Schedule, limit: Optional[int] = 20) -> str:
    """A sweep table, fitting schedules first (cheapest first), then the rest by peak."""
    cands = sorted(schedule.candidates,
                   key=lambda c: (not c.fits,) + (_key_fit(c) if c.fits else _key_nofit(c)))
    lines = [f'{"split":>5} {"grid":>6} {"peak kB":>9} {"+frame kB":>10} {"MACs M":>9} {"overhead":>9} '
             f'{"in patch":>9}  fits']
    for c in cands[:limit]:
        grid = 'layer' if c.grid is None else f'{c.grid[0]}x{c.grid[1]}'
        lines.append(f'{c.split:>5} {grid:>6} {c.peak_bytes / KB:>9.1f} '
                     f'{c.peak_with_input_bytes / KB:>10.1f} '
                     f'{c.patch_macs / 1e6:>9.1f} {100 * c.mac_overhead:>8.1f}% '
                     f'{c.input_patch_size[0]:>4}x{c.input_patch_size[1]:<4}  {"yes" if c.fits else "no"}')
    return '\n'.join(lines)
