"""The memory plan: schedule, arena offsets, scratch, flash, and the honest summary line."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Optional

from mcudet.patch.plan import PatchPlan

from ..ir import Graph
from .kernels import ALIGN, INPLACE_RULES, ScratchFn, align, default_scratch_bytes
from .placement import HEURISTICS, Block, Placer, Relation, occupied, order, tie_groups
from .schedule import MemoryPlanError, Problem, Step, build_problem


@dataclass(frozen=True)
class Buffer:
    """One tensor in the arena.

    Args:
        name: Tensor name.
        role: 'input' (resident frame), 'tile' (per-patch buffer reused by every tile),
            'stage_output' (the full split tensor all tiles write) or 'tensor' (per layer).
        shape: Tensor shape; for 'tile' the largest tile's window (1, h, w, C).
        size: Bytes used (the placed region is ``size`` rounded up to the alignment).
        offset: Byte offset in the arena.
        first, last: Schedule positions of the producing and of the last reading step.
    """

    name: str
    role: str
    shape: tuple[int, ...]
    size: int
    offset: int
    first: int
    last: int

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Alias:
    """An in-place step: ``dst`` overwrites ``src`` (``offset(dst) = offset(src) - delta``)."""

    step: int
    src: str
    dst: str
    rule: str
    delta: int


@dataclass(frozen=True)
class FlashBytes:
    """Constant data in flash: int8 weights, int32 biases, per-channel multiplier and shift (int32 each)."""

    weights: int
    biases: int
    requant: int

    @property
    def total(self) -> int:
        return self.weights + self.biases + self.requant


@dataclass(frozen=True)
class MemoryPlan:
    """Where every activation lives while the generated code runs (see :func:`plan_memory`).

    Byte counts: ``arena_bytes`` is the one static activation buffer (the scratch of every
    kernel inside it when ``scratch_in_arena``, else in a separate region of
    ``scratch_bytes``); ``total_bytes`` is the SRAM the plan needs, the input frame
    excluded when it is streamed (``input_resident=False``). ``peak_live_bytes`` is what
    is occupied at the busiest step (``peak_op``), ``activation_peak_bytes`` the most
    activation bytes occupied at any step (no scratch: the paper's convention);
    ``lower_bound_bytes`` is the ``total_bytes`` that no placement under these in-place rules
    and this scratch contract can beat (the busiest step's live bytes and scratch).
    ``kernel_scratch_bytes`` is the largest scratch that any kernel the planner weighed for a
    step declares, in place or not: an in-place depthwise's row ring counts where the planner
    chose a separate output because that needed fewer bytes. The analytic model
    (:func:`mcudet.patch.memory_report`) runs depthwise in place at no cost, so a plan is within
    ``patch_peak_bytes + kernel_scratch_bytes`` of it (tests/deploy/test_memory_plan_arena.py).

    ``stage_views``: tensors of the tile body that have no buffer of their own. When the
    per-patch stage ends with a residual ADD, the op before it (the project conv) writes each
    tile's output straight into that tile's window of the stage output, and the ADD runs in
    place there ('elementwise', ``in_place_of`` that tensor): the paper's fused add.
    """

    graph_name: str
    steps: tuple[Step, ...]
    buffers: dict[str, Buffer]
    aliases: tuple[Alias, ...]
    arena_bytes: int
    scratch_bytes: int
    scratch_in_arena: bool
    flash: FlashBytes
    input_tensors: tuple[str, ...]
    input_bytes: int
    input_resident: bool
    host_ops: tuple[str, ...]
    split_tensor: Optional[str]
    patch_plan: Optional[PatchPlan]
    num_stage_steps: int
    peak_step: int
    peak_live_bytes: int
    activation_peak_bytes: int
    lower_bound_bytes: int
    kernel_scratch_bytes: int
    heuristic: str
    alignment: int
    inplace_rules: tuple[str, ...]
    notes: tuple[str, ...] = ()
    stage_views: tuple[str, ...] = ()

    # ------------------------------------------------------------------ derived
    @property
    def total_bytes(self) -> int:
        return self.arena_bytes + (0 if self.scratch_in_arena else self.scratch_bytes)

    @property
    def weights_bytes(self) -> int:
        return self.flash.total

    @property
    def peak_op(self) -> str:
        return self.steps[self.peak_step].op

    @property
    def grid(self) -> Optional[tuple[int, int]]:
        return None if self.patch_plan is None else self.patch_plan.grid

    @property
    def offsets(self) -> dict[str, int]:
        """Arena offset of every activation tensor that lives in the arena."""
        return {n: b.offset for n, b in self.buffers.items()}

    def offset(self, tensor: str) -> int:
        try:
            return self.buffers[tensor].offset
        except KeyError:
            where = ('outside the arena (streamed input)' if tensor in self.input_tensors
                     else f'each tile writes it into its window of the stage output {self.split_tensor!r}'
                     if tensor in self.stage_views else 'not an activation')
            raise MemoryPlanError(f'tensor {tensor!r} has no arena offset: {where}') from None

    # ------------------------------------------------------------------ checking
    def validate(self) -> None:
        """Raise :class:`MemoryPlanError` naming the buffers if two live buffers overlap (other
        than an in-place step's input and output at their declared offsets), if a buffer leaves
        the arena, or if an offset is misaligned."""
        bufs = list(self.buffers.values())
        for b in bufs:
            if b.offset < 0 or b.offset % self.alignment or b.end > self.arena_bytes:
                raise MemoryPlanError(f'buffer {b.name!r} at [{b.offset}, {b.end}) is misaligned or outside '
                                      f'the {self.arena_bytes}-byte arena')
        allowed = {(a.src, a.dst): a for a in self.aliases}
        for i, a in enumerate(bufs):
            for b in bufs[i + 1:]:
                if a.last < b.first or b.last < a.first or a.end <= b.offset or b.end <= a.offset:
                    continue
                alias = allowed.get((a.name, b.name)) or allowed.get((b.name, a.name))
                src, dst = (a, b) if alias is not None and alias.src == a.name else (b, a)
                if (alias is None or dst.offset != src.offset - alias.delta
                        or not src.last == dst.first == alias.step):
                    raise MemoryPlanError(f'{a.name!r} [{a.offset}, {a.end}) live {a.first}..{a.last} and '
                                          f'{b.name!r} [{b.offset}, {b.end}) live {b.first}..{b.last} '
                                          f'overlap')
        for s in self.steps:
            if not s.scratch_bytes or not self.scratch_in_arena:
                continue
            lo, hi = s.scratch_offset, s.scratch_offset + s.scratch_bytes
            if lo < 0 or hi > self.arena_bytes or lo % self.alignment:
                raise MemoryPlanError(f'scratch of {s.op!r} [{lo}, {hi}) leaves the arena or is misaligned')
            for b in bufs:
                if b.first <= s.index <= b.last and lo < b.end and b.offset < hi:
                    raise MemoryPlanError(f'scratch of {s.op!r} [{lo}, {hi}) overlaps live {b.name!r}')

    # ------------------------------------------------------------------ reporting
    def summary(self) -> str:
        """One honest line: arena, scratch, input frame (resident or streamed), weights, peak op."""
        where = 'inside the arena' if self.scratch_in_arena else 'in its own region'
        frame = (f'input frame {self.input_bytes:,} B resident in the arena' if self.input_resident else
                 f'input frame {self.input_bytes:,} B streamed (outside the arena)')
        sched = ('per layer' if self.patch_plan is None else
                 f'{self.grid[0]}x{self.grid[1]} patches up to {self.split_tensor!r}')
        return (f'{self.graph_name} ({sched}): SRAM {self.total_bytes:,} B = arena {self.arena_bytes:,} B '
                f'(scratch {self.scratch_bytes:,} B {where}); {frame}; weights {self.weights_bytes:,} B in '
                f'flash; peak at {self.peak_op} ({self.peak_live_bytes:,} B live)')

    def table(self) -> str:
        """One line per step: op, per patch or not, in-place rule, scratch, live bytes."""
        lines = [f'{"#":>3} {"op":28s} {"kind":17s} {"patch":5s} {"in place":11s} {"scratch":>8} {"live":>8}']
        for s in self.steps:
            lines.append(f'{s.index:>3} {s.op[:28]:28s} {s.kind:17s} {"yes" if s.per_patch else "":5s} '
                         f'{s.in_place or "":11s} {s.scratch_bytes:>8,} {s.live_bytes:>8,}')
        return '\n'.join(lines)

    def to_dict(self, with_patch_plan: bool = False) -> dict[str, Any]:
        """JSON-able form for the code generator (``with_patch_plan`` adds every tile's windows)."""
        d = {k: getattr(self, k) for k in (
            'graph_name', 'arena_bytes', 'scratch_bytes', 'scratch_in_arena', 'total_bytes', 'weights_bytes',
            'input_bytes', 'input_resident', 'split_tensor', 'num_stage_steps', 'peak_op', 'peak_live_bytes',
            'activation_peak_bytes', 'lower_bound_bytes', 'kernel_scratch_bytes', 'heuristic', 'alignment')}
        d.update(input_tensors=list(self.input_tensors), host_ops=list(self.host_ops),
                 stage_views=list(self.stage_views),
                 inplace_rules=list(self.inplace_rules), notes=list(self.notes),
                 grid=list(self.grid) if self.grid else None, flash=asdict(self.flash),
                 buffers=[asdict(b) for b in self.buffers.values()],
                 aliases=[asdict(a) for a in self.aliases], steps=[asdict(s) for s in self.steps])
        if with_patch_plan and self.patch_plan is not None:
            d['patch_plan'] = self.patch_plan.to_dict()
        return d


# ---------------------------------------------------------------------- planning
def flash_bytes(graph: Graph, host_ops: Sequence[str] = ()) -> FlashBytes:
    """Flash needed by the constants of the executed ops (each constant tensor counted once)."""
    seen: set[str] = set()
    weights = biases = requant = 0
    for op in graph.ops:
        if op.name in host_ops:
            continue
        for t in op.inputs:
            tensor = graph.tensor(t)
            if tensor.is_const and t not in seen:
                seen.add(t)
                if tensor.dtype == 'int32':
                    biases += tensor.nbytes
                else:
                    weights += tensor.nbytes
        if op.kind in ('conv2d', 'depthwise_conv2d', 'fully_connected'):
            channels = graph.tensor(op.outputs[0]).shape[-1]
            requant += 8 * (channels if graph.tensor(op.inputs[1]).per_channel else 1)
    return FlashBytes(weights, biases, requant)


def plan_memory(graph: Graph, patch_plan: Optional[PatchPlan] = None, input_resident: bool = False,
                scratch_fn: Optional[ScratchFn] = None, *, split_tensor: Optional[str] = None,
                inplace: Sequence[str] = INPLACE_RULES, scratch_in_arena: bool = True,
                int8_frame: bool = True, alignment: int = ALIGN,
                heuristics: Sequence[str] = HEURISTICS) -> MemoryPlan:
    """Schedule ``graph``, decide lifetimes and in-place steps, and place every buffer in one arena.

    Args:
        graph: The integer graph (finalized here if needed).
        patch_plan: Run the per-patch stage of this plan tile by tile (from
            :func:`~mcudet.deploy.patch_exec.plan_from_graph`, or ``make_patch_plan`` for a
            graph lowered from an ArchSpec); None: every op per layer.
        input_resident: Keep the whole input frame in the arena (until its last reader; across
            the whole per-patch stage). False: the frame stays outside the arena (sensor,
            decoder or another RAM) and the first op reads its window of it directly.
        scratch_fn: ``scratch_fn(KernelCall) -> bytes`` (:mod:`~mcudet.deploy.memplan.kernels`);
            default :func:`~mcudet.deploy.memplan.kernels.default_scratch_bytes`.
        split_tensor: The tensor the plan's stage ends at (found from the plan's unit names if omitted).
        inplace: In-place rules the C kernels honour (:mod:`~mcudet.deploy.memplan.kernels`).
            Default ``INPLACE_RULES``, the full contract, which deploy/runtime implements
            (``RUNTIME_INPLACE``); ``PAPER_INPLACE`` the paper's convention.
        scratch_in_arena: Place each kernel's scratch in the arena for the duration of its step
            (True), or report one separate scratch region of the largest size (False).
        int8_frame: A float input read by one QUANTIZE is quantized at the source (the frame is int8).
        alignment: Byte alignment of every offset and size.
        heuristics: Placement orders to try (:data:`~mcudet.deploy.memplan.placement.HEURISTICS`);
            the smallest arena wins.
    """
    bad = set(inplace) - set(INPLACE_RULES)
    if bad:
        raise MemoryPlanError(f'inplace rules {sorted(bad)} are unknown; choose from {INPLACE_RULES}')
    problem = build_problem(graph, patch_plan, split_tensor, input_resident, int8_frame,
                            scratch_fn or default_scratch_bytes, tuple(inplace), alignment)
    return solve(problem, heuristics, scratch_in_arena, tuple(inplace))


def solve(problem: Problem, heuristics: Sequence[str], scratch_in_arena: bool = True,
          inplace: tuple[str, ...] = INPLACE_RULES, search_budget: Optional[int] = None) -> MemoryPlan:
    """Place ``problem``'s buffers with every heuristic and keep the smallest arena.

    Each heuristic runs with every in-place candidate, and again with only the worthwhile
    ones (:meth:`~mcudet.deploy.memplan.schedule.Problem.worthwhile`: a greedy placer takes an
    in-place position whenever it does not raise the arena's top at that moment, even where
    the kernel's scratch then costs more). When no result reaches the problem's
    lower bound, a local search (:func:`_improve`) perturbs the best order for at most
    ``search_budget`` more placements (default :func:`search_budget_for`), stopping as soon as
    the lower bound is reached. Deterministic.
    """
    if not heuristics:
        raise MemoryPlanError('heuristics is empty; give at least one of ' + ', '.join(HEURISTICS))
    a = problem.alignment
    specs = list(problem.buffers.values())
    index = {b.name: i for i, b in enumerate(specs)}
    sets = [list(problem.candidates)]
    worthwhile = problem.worthwhile()
    if len(worthwhile) < len(problem.candidates):
        sets.append(worthwhile)
    best = None
    blocks = [Block(align(b.size, a), b.first, b.last) for b in specs]
    for cands in sets:
        for h, tied_rules in [(h, ()) for h in heuristics] + [(f'{h}+tied', ('expand',)) for h in heuristics]:
            tied = [Relation(index[c.src], index[c.dst], c.delta) for c in cands if c.rule in tied_rules]
            groups = tie_groups(blocks, tied) if tied else [[(i, 0)] for i in range(len(blocks))]
            if tied and len(groups) == len(blocks):
                continue
            name = h if cands is sets[0] else f'{h}+worthwhile'
            seq = order(blocks, groups, h.split('+')[0])
            result = _attempt(problem, blocks, cands, index, groups, seq, name, scratch_in_arena)
            if best is None or result.total < best.total:
                best = result
    lower = align(problem.lower_bound()[0], a)
    starts = [best]
    if best.total > lower and scratch_in_arena:
        # the scratch placed with the buffers rather than after them, at the best plan's sizes
        reserved = {k: n for k, n in enumerate(best.scratch) if n}
        fixed = {c.step for c in problem.fixed}
        cands = [c for k, c in best.realized.items() if k not in fixed]
        with_scratch = blocks + [Block(align(n, a), k, k) for k, n in reserved.items()]
        groups = [[(i, 0)] for i in range(len(with_scratch))]
        placed = [_attempt(problem, with_scratch, cands, index, groups, order(with_scratch, groups, h),
                           f'{h}+scratch', True, reserved) for h in heuristics]
        placed = [r for r in placed if r is not None]
        if placed:
            starts.append(min(placed, key=lambda r: r.total))
    if best.total > lower:
        # the local search from the best plan of each kind, half the budget each
        budget = search_budget if search_budget is not None else search_budget_for(len(specs))
        for start in starts:
            result = _improve(problem, index, start, lower, budget // len(starts), scratch_in_arena)
            if result.total < best.total:
                best = result
            if best.total <= lower:
                break
    plan = _make_plan(problem, specs, best.offsets, best.realized, best.scratch, best.scratch_off, best.arena,
                      best.heuristic, scratch_in_arena, inplace)
    plan.validate()  # a placement bug must never reach the code generator
    return plan


@dataclass
class _Attempt:
    """One placement: its blocks, candidates and groups in the order placed, and what came out."""

    total: int
    heuristic: str
    blocks: list
    cands: list
    groups: list
    seq: list[int]
    offsets: list[int]
    realized: dict
    scratch: list[int]
    scratch_off: dict[int, int]
    arena: int
    reserved: Optional[dict[int, int]] = None


# Placements the local search may add to the heuristics' (about 20), in all, for a problem of
# this many buffers: each placement costs O(n^2), so the budget shrinks with n (vww.tflite per
# layer, ~70 buffers: ~400 placements; a patch stage of 300 buffers: ~20).
SEARCH_WORK = 2_000_000


def search_budget_for(num_blocks: int) -> int:
    """Default number of extra placements the local search may try for ``num_blocks`` buffers."""
    return min(2000, SEARCH_WORK // max(1, num_blocks) ** 2)


def _attempt(problem: Problem, blocks, cands, index, groups, seq, heuristic, scratch_in_arena,
             reserved: Optional[dict[int, int]] = None) -> Optional[_Attempt]:
    """Place ``groups`` in the order ``seq``, then every kernel's scratch; the arena it needs.

    ``reserved`` (step -> bytes): the scratch blocks are already among ``blocks`` (after the
    buffers, in this order) and placed with them; None when a step needs more than its block.
    """
    a = problem.alignment
    placer = Placer(blocks, [Relation(index[c.src], index[c.dst], c.delta) for c in cands])
    for k in seq:
        placer.place(groups[k])
    offsets = list(placer.offsets)
    realized = {c.step: c for c in problem.fixed}
    for c in cands:
        s, d = index[c.src], index[c.dst]
        if offsets[d] == offsets[s] - c.delta and offsets[d] < offsets[s] + blocks[s].size \
                and offsets[s] < offsets[d] + blocks[d].size:
            realized[c.step] = c
    scratch = [problem.scratch[k][realized[k].rule if k in realized else None]
               for k in range(len(problem.steps))]
    scratch_off: dict[int, int] = {}
    if reserved is not None:
        if any(n > reserved.get(k, 0) for k, n in enumerate(scratch)):
            return None
        first = len(problem.buffers)
        scratch_off = {k: offsets[first + i] for i, k in enumerate(reserved) if scratch[k]}
        offsets = offsets[:first]
    elif scratch_in_arena:
        extra = [k for k in range(len(scratch)) if scratch[k]]
        ids = placer.add([Block(align(scratch[k], a), k, k) for k in extra])
        for i in sorted(ids, key=lambda i: -placer.blocks[i].size):
            placer.place([(i, 0)])
        scratch_off = {k: placer.offsets[i] for k, i in zip(extra, ids)}
    else:
        scratch_off = {k: 0 for k in range(len(scratch)) if scratch[k]}
    total = placer.top + (0 if scratch_in_arena else max(scratch, default=0))
    return _Attempt(total, heuristic, list(blocks), list(cands), groups, list(seq), offsets, realized,
                    scratch, scratch_off, placer.top, reserved)


def _improve(problem: Problem, index, best: _Attempt, lower: int, budget: int,
             scratch_in_arena: bool) -> _Attempt:
    """Local search over placement orders: move one group of the best order earlier (or swap two)
    and keep the result when it needs no more bytes; stop at ``lower`` or after ``budget`` tries."""
    rng = random.Random(0)
    n = len(best.seq)
    if n < 2:
        return best
    name = best.heuristic.split(' ')[0] + ' + search'
    for _ in range(budget):
        seq = list(best.seq)
        i = rng.randrange(1, n)
        if rng.random() < 0.5:
            j = rng.randrange(0, i)
            seq.insert(j, seq.pop(i))
        else:
            j = rng.randrange(0, n)
            seq[i], seq[j] = seq[j], seq[i]
        result = _attempt(problem, best.blocks, best.cands, index, best.groups, seq, name, scratch_in_arena,
                          best.reserved)
        if result is not None and result.total <= best.total:
            best = result
            if best.total <= lower:
                break
    return best


def _make_plan(problem: Problem, specs, offsets, realized, scratch, scratch_off, arena, heuristic,
               scratch_in_arena, inplace) -> MemoryPlan:
    buffers = {}
    for b, off in zip(specs, offsets):
        buffers[b.name] = Buffer(b.name, b.role, b.shape, b.size, off, b.first, b.last)
    ends = [b.end for b in buffers.values()]
    if scratch_in_arena:
        ends += [scratch_off[k] + scratch[k] for k in scratch_off]
    arena = align(max(ends, default=0), problem.alignment)
    steps, activations = [], 0
    for s in problem.steps:
        k = s.index
        spans = [(b.offset, b.end) for b in buffers.values() if b.first <= k <= b.last]
        activations = max(activations, occupied(spans))
        if scratch_in_arena and scratch[k]:
            spans.append((scratch_off[k], scratch_off[k] + scratch[k]))
        alias = realized.get(k)
        steps.append(replace(s, in_place=alias.rule if alias else None,
                             in_place_of=alias.src if alias else None, scratch_bytes=scratch[k],
                             scratch_offset=scratch_off.get(k), live_bytes=occupied(spans)))
    peak = max(range(len(steps)), key=lambda k: steps[k].live_bytes)
    g = problem.graph
    frames = problem.frames
    lower, _ = problem.lower_bound()
    return MemoryPlan(
        graph_name=g.name, steps=tuple(steps), buffers=buffers,
        aliases=tuple(Alias(c.step, c.src, c.dst, c.rule, c.delta) for c in realized.values()),
        arena_bytes=arena, scratch_bytes=max(scratch, default=0), scratch_in_arena=scratch_in_arena,
        flash=flash_bytes(g, problem.host_ops), input_tensors=frames,
        input_bytes=sum(g.tensor(t).nbytes for t in frames), input_resident=problem.input_resident,
        host_ops=problem.host_ops, split_tensor=problem.split_tensor, patch_plan=problem.patch_plan,
        num_stage_steps=problem.num_stage_steps, peak_step=peak, peak_live_bytes=steps[peak].live_bytes,
        activation_peak_bytes=activations, lower_bound_bytes=lower,
        kernel_scratch_bytes=max((max(options.values()) for options in problem.scratch), default=0),
        heuristic=heuristic,
        alignment=problem.alignment, inplace_rules=inplace, notes=tuple(problem.notes),
        stage_views=problem.stage_views)
