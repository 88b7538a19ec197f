"""Static memory planning for the generated C code (``design/architecture.md``: IR -> memory plan -> C).

:func:`plan_memory` turns an integer graph (and optionally a patch plan) into a
:class:`MemoryPlan`: the execution schedule (per layer, or the per-patch stage tile by
tile then the rest per layer), tensor lifetimes over it, in-place steps, the kernels'
scratch, and one arena offset per activation tensor. :func:`~mcudet.deploy.memplan.search.auto_plan` picks the
split and grid with the smallest plan (``--patches auto``).

    schedule   steps, buffers, lifetimes, in-place candidates, scratch per step
    kernels    the contract with the C runtime: in-place rules and scratch sizes
    placement  greedy offset placement (several orders; the best is kept)
    plan       MemoryPlan, plan_memory, validation and reporting
    search     ``--patches auto``: the split and grid with the smallest plan

What the code generator reads:

* ``arena_bytes``: one static, 4-byte aligned ``int8_t`` arena. Scratch lies inside it
  (``scratch_in_arena``, each step's at ``step.scratch_offset``) or in a separate region of
  ``scratch_bytes``.
* ``buffers[tensor]``: ``offset``, ``size``, ``shape``, ``role``. 'tile' buffers hold one
  tile's window, dense (row pitch = the window's width); 'stage_output' is the full split
  tensor, written window by window; 'input' is the resident frame. An in-place depthwise
  writes its output dense at the start of its input's buffer (the same offset), whatever
  crop of that buffer it reads.
* ``input_tensors`` / ``input_resident``: a streamed frame is not in the arena: the generated
  function takes a pointer to it and the first op reads its window from there.
  ``host_ops`` (an input QUANTIZE) are done by whoever fills the frame.
* ``steps`` in order. ``steps[:num_stage_steps]`` run once per tile of ``patch_plan.tiles``:
  step ``s`` of tile ``t`` reads ``tiles[t].units[s.unit].layers[s.layer].in_window``
  (full-map coordinates; its input buffer holds the producing step's ``out_window``, or the
  whole frame), skips ``pads`` and writes ``out_window``; the last stage step writes straight
  into the stage output (row pitch = the full map's width). ``s.layer is None`` is the unit's
  residual ADD: the shortcut is the unit input's ``residual_window``, the other operand the
  project output, the result the unit's ``out_window``. The remaining steps run once on whole
  maps. ``s.in_place`` names the kernel variant (the output overwrites ``s.in_place_of``);
  ``inplace_rules`` says which variants the plan may use: the default (``INPLACE_RULES``,
  equal to ``RUNTIME_INPLACE``, what deploy/runtime implements) has 'depthwise', 'reshape',
  'pointwise', 'expand' and 'elementwise' (``kernels`` describes what those kernels must
  guarantee); a runtime with fewer passes its own.
* ``to_dict()``: the same as JSON.

NumPy / pure Python; never imports torch or the training stack.
"""
from .kernels import (
           INPLACE_RULES,
           PAPER_INPLACE,
           RUNTIME_INPLACE,
           KernelCall,
           ScratchFn,
           default_scratch_bytes,
)
from .placement import HEURISTICS
from .plan import Alias, Buffer, FlashBytes, MemoryPlan, flash_bytes, plan_memory
from .schedule import MemoryPlanError, Step
from .search import AutoCandidate, AutoResult, auto_plan

__all__ = ['HEURISTICS', 'INPLACE_RULES', 'PAPER_INPLACE', 'RUNTIME_INPLACE', 'Alias', 'AutoCandidate',
           'AutoResult', 'Buffer', 'FlashBytes', 'KernelCall', 'MemoryPlan', 'MemoryPlanError', 'ScratchFn',
           'Step', 'auto_plan', 'default_scratch_bytes', 'flash_bytes', 'plan_memory']
