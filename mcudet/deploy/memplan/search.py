"""``--patches auto``: the split and grid whose memory plan needs the least SRAM.

Every split point of the graph (:func:`~mcudet.deploy.patch_exec.split_points`) times
every grid up to ``max_grid`` tiles a side, plus the per-layer schedule, is a
candidate. Each candidate's lower bound (its busiest step with the cheapest in-place
choice, :meth:`~mcudet.deploy.memplan.schedule.Problem.lower_bound`) is computed first;
candidates are then placed in order of that bound, and a candidate is skipped as soon as
its bound cannot beat the best plan found. Ties go to fewer tiles (less recomputed
halo), then to the earlier split, so the result is the cheapest schedule among the
smallest ones. Memory is the objective here; :func:`mcudet.patch.search.search_schedule`
weighs MACs against a budget on the analytic model.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from mcudet.patch.receptive import PatchPlanError

from ..ir import Graph
from ..patch_exec import plan_from_graph, split_points
from .kernels import ALIGN, INPLACE_RULES, ScratchFn, default_scratch_bytes
from .placement import HEURISTICS
from .plan import MemoryPlan, solve
from .schedule import MemoryPlanError, build_problem


@dataclass(frozen=True)
class AutoCandidate:
    """One schedule of the sweep: per layer when ``grid`` is None."""

    split_tensor: Optional[str]
    grid: Optional[tuple[int, int]]
    lower_bound_bytes: int
    total_bytes: Optional[int]  # None: skipped, its lower bound could not beat the best

    @property
    def num_tiles(self) -> int:
        return 0 if self.grid is None else self.grid[0] * self.grid[1]


@dataclass(frozen=True)
class AutoResult:
    """The smallest plan and the whole sweep."""

    plan: MemoryPlan
    candidates: tuple[AutoCandidate, ...]


def _grids(max_grid: int, rectangular: bool) -> list[tuple[int, int]]:
    if rectangular:
        return [(r, c) for r in range(1, max_grid + 1) for c in range(1, max_grid + 1) if (r, c) != (1, 1)]
    return [(n, n) for n in range(2, max_grid + 1)]


def auto_plan(graph: Graph, input_resident: bool = False, scratch_fn: Optional[ScratchFn] = None, *,
              max_grid: int = 6, rectangular: bool = False, splits: Optional[Sequence[str]] = None,
              per_layer: bool = True, inplace: Sequence[str] = INPLACE_RULES, scratch_in_arena: bool = True,
              int8_frame: bool = True, alignment: int = ALIGN,
              heuristics: Sequence[str] = HEURISTICS) -> AutoResult:
    """The memory plan with the smallest ``total_bytes`` over splits and grids.

    Args:
        graph: The integer graph.
        input_resident, scratch_fn, inplace, scratch_in_arena, int8_frame, alignment, heuristics:
            As for :func:`~mcudet.deploy.memplan.plan_memory`.
        max_grid: Largest number of tile rows and columns tried.
        rectangular: Also try rows != cols.
        splits: Split tensors to try (default: every split point of the graph).
        per_layer: Include the per-layer schedule.
    """
    fn = scratch_fn or default_scratch_bytes
    rules = tuple(inplace)
    problems = []
    if per_layer:
        problems.append((None, None, build_problem(graph, None, None, input_resident, int8_frame, fn, rules,
                                                   alignment)))
    order = {t: i for i, t in enumerate(o.outputs[0] for o in graph.ops)}
    for split in (splits if splits is not None else split_points(graph)):
        hw = graph.tensor(split).shape[1:3]
        for grid in _grids(max_grid, rectangular):
            if grid[0] > hw[0] or grid[1] > hw[1]:
                continue
            try:
                plan = plan_from_graph(graph, split, grid)
                problem = build_problem(graph, plan, split, input_resident, int8_frame, fn, rules, alignment)
            except (PatchPlanError, MemoryPlanError):
                continue
            problems.append((split, grid, problem))
    bounds = [p.lower_bound()[0] for _, _, p in problems]

    def tie(i: int) -> tuple[int, int]:  # fewer tiles, then the earlier split
        split, grid, _ = problems[i]
        return (0 if grid is None else grid[0] * grid[1], -1 if split is None else order[split])

    best: Optional[MemoryPlan] = None
    best_key: Optional[tuple[int, int, int]] = None
    totals: dict[int, int] = {}
    for i in sorted(range(len(problems)), key=lambda i: (bounds[i], *tie(i))):
        if best_key is not None and (bounds[i], *tie(i)) >= best_key:
            continue  # its total is at least its bound: it cannot win
        mp = solve(problems[i][2], heuristics, scratch_in_arena, rules)
        totals[i] = mp.total_bytes
        if best_key is None or (mp.total_bytes, *tie(i)) < best_key:
            best, best_key = mp, (mp.total_bytes, *tie(i))
    if best is None:
        raise PatchPlanError(f'{graph.name!r}: no schedule to plan (per_layer=False and no split point)')
    cands = tuple(AutoCandidate(s, g, bounds[i], totals.get(i)) for i, (s, g, _) in enumerate(problems))
    return AutoResult(best, cands)
