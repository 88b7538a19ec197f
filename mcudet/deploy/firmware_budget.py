"""When a firmware does not fit its board: the error (which budget, by how many bytes, where the
bytes go) and, for SRAM, a patch schedule that fits.

The candidates are those of :func:`mcudet.deploy.memory_plan.auto_plan` (per layer, and every
split point x n x n grids up to ``max_grid``), planned exactly as the code generator plans them
(mcu_rt's in-place kernels, scratch in the arena). Among the schedules whose arena fits, the
suggestion is the one that recomputes least: fewest tiles, then the earliest split (the
tie-break of ``auto_plan``). The split is given as ``--split K`` of ``tools/export.py`` (the K-th
layer as TinyEngine counts them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .boards import BoardProfile
from .codegen.build import NOT_LAYERS, make_plan
from .codegen.emit import strip_output_dequantize
from .firmware_sizes import FlashUsage, SramUsage
from .ir import Graph
from .memory_plan import RUNTIME_INPLACE, MemoryPlan, auto_plan


class FirmwareError(RuntimeError):
    """The firmware did not build or did not run; the message says what to look at."""


class BudgetError(FirmwareError):
    """The image does not fit the board: which region, by how many bytes, and what would fit."""

    def __init__(self, message: str, board: BoardProfile, region: str, over_bytes: int, flash: FlashUsage,
                 sram: SramUsage, suggestion: str) -> None:
        super().__init__(message)
        self.board, self.region, self.over_bytes = board, region, over_bytes
        self.flash, self.sram, self.suggestion = flash, sram, suggestion


def split_layers(graph: Graph, tensor: str) -> Optional[int]:
    """K such that ``codegen.layer_split(graph, K) == tensor``, or None when no counted layer makes it."""
    counted = [op for op in graph.ops if op.kind not in NOT_LAYERS]
    return next((i + 1 for i, op in enumerate(counted) if op.outputs[0] == tensor), None)


def schedule_flags(graph: Graph, plan: MemoryPlan) -> str:
    """``tools/export.py`` flags that reproduce ``plan``'s schedule."""
    if plan.grid is None:
        return '(per layer, no --patches)'
    k = split_layers(graph, plan.split_tensor)
    split = f'--split {k}' if k is not None else f'(split at {plan.split_tensor!r})'
    return f'--patches {plan.grid[0]}x{plan.grid[1]} {split}'


def fitting_plan(graph: Graph, arena_limit: int, input_resident: bool = False,
                 max_grid: int = 6) -> tuple[Optional[MemoryPlan], MemoryPlan]:
    """``(the cheapest plan whose arena <= arena_limit or None, the smallest plan)``."""
    graph = strip_output_dequantize(graph)
    res = auto_plan(graph, input_resident=input_resident, max_grid=max_grid, inplace=RUNTIME_INPLACE,
                    scratch_in_arena=True)
    if res.plan.arena_bytes > arena_limit:
        return None, res.plan
    order = {op.outputs[0]: i for i, op in enumerate(graph.ops)}
    for c in sorted(res.candidates, key=lambda c: (c.num_tiles, order.get(c.split_tensor, -1))):
        if c.lower_bound_bytes > arena_limit:
            continue
        if (c.split_tensor, c.grid) == (res.plan.split_tensor, res.plan.grid):
            return res.plan, res.plan
        plan = make_plan(graph, c.grid, c.split_tensor, input_resident)
        if plan.arena_bytes <= arena_limit:
            return plan, res.plan
    return res.plan, res.plan


def _load_graph(export_dir: Path) -> Optional[Graph]:
    path = export_dir / 'model.tflite'
    if not path.is_file():
        return None
    from .tflite_reader import read_tflite
    from .transforms import fold_pads

    return fold_pads(read_tflite(path))  # the writer spells folded padding out as PAD ops again


def suggest_schedule(graph: Optional[Graph], export_dir: Path, arena_limit: int, input_resident: bool = False,
                     max_grid: int = 6) -> str:
    """A sentence proposing a schedule whose arena is at most ``arena_limit`` bytes (or saying none fits)."""
    if graph is None:
        graph = _load_graph(export_dir)
    if graph is None:
        return ('no graph to search a schedule on (pass graph= or keep model.tflite in the export); '
                'try tools/export.py --patches auto')
    if arena_limit <= 0:
        return 'even an empty arena does not fit: reduce stack_bytes / heap_bytes or pick a larger board'
    graph = strip_output_dequantize(graph)
    plan, smallest = fitting_plan(graph, arena_limit, input_resident, max_grid)
    if plan is None:
        return (f'no schedule up to {max_grid}x{max_grid} patches fits: the smallest, '
                f'{schedule_flags(graph, smallest)}, needs an arena of {smallest.arena_bytes:,} B and '
                f'{arena_limit:,} B are left for it; use a smaller model or a larger board')
    return (f'try {schedule_flags(graph, plan)} (arena {plan.arena_bytes:,} B of the {arena_limit:,} B left '
            f'for it)')


def budget_error(board: BoardProfile, flash: FlashUsage, sram: SramUsage, report: dict,
                 graph: Optional[Graph], export_dir: Path) -> BudgetError:
    """The :class:`BudgetError` of an image measured with relaxed budgets (``flash``, ``sram``)."""
    if flash.total > board.flash_bytes:
        over = flash.total - board.flash_bytes
        msg = (f'{board.name}: flash over budget by {over:,} B (needs {flash.total:,} B of '
               f'{board.flash_bytes:,} B: model constants {flash.model_constants:,} + model code '
               f'{flash.model_code:,} + runtime {flash.runtime_code:,} + startup/harness/newlib '
               f'{flash.other:,} B); patches do not shrink weights: use a smaller model or a board with more '
               f'flash')
        return BudgetError(msg, board, 'flash', over, flash, sram, '')
    over = sram.total - board.sram_bytes
    arena_limit = sram.arena - over
    suggestion = suggest_schedule(graph, export_dir, arena_limit, bool(report.get('input_resident', False)))
    msg = (f'{board.name}: SRAM over budget by {over:,} B (needs {sram.total:,} B of {board.sram_bytes:,} B: '
           f'{sram.line()}); {suggestion}')
    return BudgetError(msg, board, 'SRAM', over, flash, sram, suggestion)


__all__ = ['BudgetError', 'FirmwareError', 'budget_error', 'fitting_plan', 'schedule_flags', 'split_layers',
           'suggest_schedule']
