"""Patch-based inference planning (MCUNetV2): receptive fields, PatchPlan, memory model, search.

Pure Python + NumPy: nothing here imports torch, so the C code generator and the
analysis tools can use the schedule without the training stack.
"""
from .memory import (
    KB,
    BlockRow,
    LayerRow,
    MemoryReport,
    NetworkTables,
    format_report,
    layer_live_bytes,
    memory_report,
    network_tables,
)
from .plan import LayerWindow, PatchPlan, TilePlan, UnitWindow, Window, make_patch_plan
from .receptive import PatchPlanError, receptive_chain, split_even
from .search import Candidate, Schedule, format_candidates, search_schedule, sweep

__all__ = ['KB', 'BlockRow', 'Candidate', 'LayerRow', 'LayerWindow', 'MemoryReport', 'NetworkTables',
           'PatchPlan', 'PatchPlanError', 'Schedule', 'TilePlan', 'UnitWindow', 'Window',
           'format_candidates', 'format_report', 'layer_live_bytes', 'make_patch_plan', 'memory_report',
           'network_tables', 'receptive_chain', 'search_schedule', 'split_even', 'sweep']
