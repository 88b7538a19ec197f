"""Offset placement: pack buffers with known lifetimes into one arena, greedily.

Buffers are placed one *group* at a time, in a heuristic order. A group is a single
buffer, or buffers tied together at fixed relative offsets by in-place steps (the
planner ties ``expand`` steps, whose output must start ``delta`` bytes before the input,
in one of its variants). A group goes to the offset that raises the arena's top the least
(ties: more in-place steps realized, then the lowest offset). Candidate offsets are 0, the
end of every placed buffer whose lifetime overlaps (first fit, as TFLite Micro's
GreedyMemoryPlanner), and the in-place positions relative to already placed partners.
A buffer may overlap a live buffer only at such an in-place position.

Orders tried (the planner keeps the best result):
    size      largest first (TFLite Micro's GreedyMemoryPlanner)
    area      largest size x lifetime first
    first     in schedule order, larger first on ties (an online allocator)
    peak      the buffers live at the busiest step first, then by size
    lifetime  longest lived first
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

HEURISTICS = ('size', 'area', 'first', 'peak', 'lifetime')

Group = list[tuple[int, int]]  # (block index, offset relative to the group's base)


@dataclass(frozen=True)
class Block:
    """A buffer to place: aligned size and lifetime ``[first, last]`` (schedule positions)."""

    size: int
    first: int
    last: int


@dataclass(frozen=True)
class Relation:
    """Block ``dst`` may take block ``src``'s memory: ``offset[dst] = offset[src] - delta``."""

    src: int
    dst: int
    delta: int


def _overlap(a: Block, b: Block) -> bool:
    return a.first <= b.last and b.first <= a.last


def tie_groups(blocks: Sequence[Block], relations: Sequence[Relation]) -> list[Group]:
    """Merge blocks into rigid groups along ``relations`` (skipping any that would make two live
    members of one group overlap other than at their own relation); the rest stay single."""
    group_of = {i: i for i in range(len(blocks))}
    groups: dict[int, dict[int, int]] = {i: {i: 0} for i in range(len(blocks))}
    tied: set[tuple[int, int]] = set()
    for r in relations:
        ga, gb = group_of[r.src], group_of[r.dst]
        if ga == gb:
            continue
        shift = groups[ga][r.src] - r.delta - groups[gb][r.dst]
        moved = {i: rel + shift for i, rel in groups[gb].items()}
        ok = True
        for a, ra in groups[ga].items():
            for b, rb in moved.items():
                if ((a, b) != (r.src, r.dst) and _overlap(blocks[a], blocks[b])
                        and ra < rb + blocks[b].size and rb < ra + blocks[a].size):
                    ok = False
        if not ok:
            continue
        groups[ga].update(moved)
        for i in moved:
            group_of[i] = ga
        del groups[gb]
        tied.add((r.src, r.dst))
    out = []
    for members in groups.values():
        low = min(members.values())
        out.append(sorted((i, rel - low) for i, rel in members.items()))
    return out


def order(blocks: Sequence[Block], groups: Sequence[Group], heuristic: str) -> list[int]:
    """Placement order of ``groups`` (indices) for one of :data:`HEURISTICS`."""
    size = [max(rel + blocks[i].size for i, rel in g) for g in groups]
    first = [min(blocks[i].first for i, _ in g) for g in groups]
    last = [max(blocks[i].last for i, _ in g) for g in groups]
    idx = range(len(groups))
    if heuristic == 'size':
        return sorted(idx, key=lambda k: (-size[k], first[k]))
    if heuristic == 'area':
        area = [sum(blocks[i].size * (blocks[i].last - blocks[i].first + 1) for i, _ in g) for g in groups]
        return sorted(idx, key=lambda k: (-area[k], first[k]))
    if heuristic == 'first':
        return sorted(idx, key=lambda k: (first[k], -size[k]))
    if heuristic == 'lifetime':
        return sorted(idx, key=lambda k: (first[k] - last[k], -size[k]))
    if heuristic == 'peak':
        steps = max((b.last for b in blocks), default=0) + 1
        live = [0] * steps
        for b in blocks:
            for s in range(b.first, b.last + 1):
                live[s] += b.size
        peak = max(range(steps), key=live.__getitem__) if blocks else 0
        at_peak = [any(blocks[i].first <= peak <= blocks[i].last for i, _ in g) for g in groups]
        return sorted(idx, key=lambda k: (not at_peak[k], -size[k], first[k]))
    raise ValueError(f'heuristic={heuristic!r}; choose from {HEURISTICS}')


class Placer:
    """Places groups of blocks; ``offsets[i]`` is None until block ``i`` is placed."""

    def __init__(self, blocks: Sequence[Block], relations: Sequence[Relation] = ()) -> None:
        self.blocks = list(blocks)
        self.offsets: list[Optional[int]] = [None] * len(self.blocks)
        self.top = 0
        self.partners: dict[int, list[tuple[int, int]]] = {}
        for r in relations:  # (partner, my offset - partner's offset)
            self.partners.setdefault(r.dst, []).append((r.src, -r.delta))
            self.partners.setdefault(r.src, []).append((r.dst, r.delta))
        self._placed: list[int] = []

    def add(self, blocks: Sequence[Block]) -> list[int]:
        """Append blocks (placed later with :meth:`place`); returns their indices."""
        start = len(self.blocks)
        self.blocks += list(blocks)
        self.offsets += [None] * len(blocks)
        return list(range(start, len(self.blocks)))

    def place(self, group: Group) -> int:
        """Place ``group`` (members at fixed relative offsets); returns its base offset."""
        near = {i: [j for j in self._placed if _overlap(self.blocks[i], self.blocks[j])] for i, _ in group}
        allowed = {i: {(j, self.offsets[j] + d) for j, d in self.partners.get(i, ())
                       if self.offsets[j] is not None} for i, _ in group}
        candidates = set()
        for i, rel in group:
            candidates.add(-rel)
            candidates.update(self.offsets[j] + self.blocks[j].size - rel for j in near[i])
            candidates.update(off - rel for _, off in allowed[i])
        best = None
        for base in sorted(c for c in candidates if c >= 0):
            realized, ok = 0, True
            for i, rel in group:
                lo, hi = base + rel, base + rel + self.blocks[i].size
                for j in near[i]:
                    if lo < self.offsets[j] + self.blocks[j].size and self.offsets[j] < hi:
                        if (j, lo) not in allowed[i]:
                            ok = False
                            break
                        realized += 1
                if not ok:
                    break
            if not ok:
                continue
            end = max(base + rel + self.blocks[i].size for i, rel in group)
            key = (max(self.top, end), -realized, base)
            if best is None or key < best:
                best = key
        base = best[2]
        for i, rel in group:
            self.offsets[i] = base + rel
            self._placed.append(i)
        self.top = max(self.top, best[0])
        return base


def occupied(intervals: Sequence[tuple[int, int]]) -> int:
    """Bytes covered by the union of half-open ``[start, end)`` intervals."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start >= reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total
