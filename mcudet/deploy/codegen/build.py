"""Export: plan, generate, build on the host, run, compare with the reference executor."""
from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..cbuild import (
    RUNTIME_DIR,
    WARNINGS,
    CBuildError,
    _compile,
    _compiler_version,
    _digest,
    _headers,
    cached_build,
    runtime_sources,
)
from ..ir import Graph
from ..memory_plan import RUNTIME_INPLACE, MemoryPlan, auto_plan, plan_memory
from ..patch_exec import plan_from_graph
from ..reference import run
from ..yolo import decode_yolo
from .detect import parse_boxes, same_detections, yolo_spec
from .emit import Generated, generate, strip_output_dequantize

HOST_FLAGS = ('-std=c99', '-O2', *WARNINGS)
DEFAULT_BUILD_DIR = Path(__file__).resolve().parents[3] / 'work_dirs' / 'cbuild'
#: TinyEngine counts neither PAD (folded) nor these as layers.
NOT_LAYERS = ('pad', 'quantize', 'dequantize', 'reshape', 'transpose')


def layer_split(graph: Graph, layers: int) -> str:
    """Output of the ``layers``-th layer as TinyEngine counts them (``split_index`` in its examples)."""
    counted = [op for op in graph.ops if op.kind not in NOT_LAYERS]
    if not 1 <= layers <= len(counted):
        raise ValueError(f'--split {layers}: the graph has {len(counted)} layers')
    return counted[layers - 1].outputs[0]


def make_plan(graph: Graph, patches: Optional[Union[str, Sequence[int]]] = None, split: Optional[str] = None,
              input_resident: bool = False, max_grid: int = 6) -> MemoryPlan:
    """The memory plan the generated code follows (mcu_rt 1's in-place kernels, scratch in the arena).

    ``patches``: None (per layer), 'auto' (:func:`auto_plan`), or a grid (rows, cols) with ``split``.
    """
    kw = dict(input_resident=input_resident, inplace=RUNTIME_INPLACE, scratch_in_arena=True)
    if patches is None:
        return plan_memory(graph, **kw)
    if patches == 'auto':
        return auto_plan(graph, max_grid=max_grid, **kw).plan
    if split is None:
        raise ValueError('a patch grid needs the split tensor')
    return plan_memory(graph, plan_from_graph(graph, split, tuple(patches)), split_tensor=split, **kw)


def build_runtime_objects(build_dir: Path = DEFAULT_BUILD_DIR, cc: str = 'gcc') -> list[Path]:
    """The runtime compiled once with :data:`HOST_FLAGS` (cached by sources, flags, compiler)."""
    srcs = runtime_sources()
    key = _digest(srcs + _headers(), [*HOST_FLAGS, _compiler_version(cc)])
    out = build_dir / f'codegen-rt-{key}'
    objs = [out / (s.stem + '.o') for s in srcs]
    cached_build(out, objs, lambda tmp: _compile([cc, *HOST_FLAGS, '-I', str(RUNTIME_DIR / 'include'), '-I',
                                                  str(RUNTIME_DIR / 'src'), '-c', *map(str, srcs)], tmp))
    return objs


def host_build(out_dir: Path, prefix: str = 'model', cc: str = 'gcc') -> Path:
    """Compile ``prefix.c`` and ``host_main.c`` of ``out_dir`` with the runtime into ``out_dir/host/``."""
    objs = build_runtime_objects(cc=cc)
    host = out_dir / 'host'
    host.mkdir(parents=True, exist_ok=True)
    exe = host / f'{prefix}_host'
    _compile([cc, *HOST_FLAGS, '-I', str(RUNTIME_DIR / 'include'), '-I', str(out_dir),
              str(out_dir / f'{prefix}.c'), str(out_dir / 'host_main.c'), *map(str, objs), '-lm',
              '-o', str(exe)], host)
    return exe


def run_host(exe: Path, frame: np.ndarray, output_sizes: Sequence[int], detect: bool = False):
    """Run the host build on one int8 frame: the raw int8 outputs, and with ``detect`` also the
    detections of ``model_detect`` (boxes, scores, labels) as a second value."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, det = Path(tmp) / 'in.bin', Path(tmp) / 'out.bin', Path(tmp) / 'boxes.bin'
        src.write_bytes(np.ascontiguousarray(frame, np.int8).tobytes())
        cmd = [str(exe), str(src), str(dst)] + ([str(det)] if detect else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise CBuildError(f'{exe} exited {proc.returncode}: {proc.stderr}')
        raw = np.frombuffer(dst.read_bytes(), np.int8)
        boxes = parse_boxes(det.read_bytes()) if detect else None
    outs, at = [], 0
    for n in output_sizes:
        outs.append(raw[at:at + n].copy())
        at += n
    return (outs, boxes) if detect else outs


def reference_io(graph: Graph, plan: MemoryPlan,
                 inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The int8 frame the generated code takes and the outputs the reference executor gives."""
    values = run(graph, list(inputs), return_all=True)
    return values[plan.input_tensors[0]], [values[t] for t in graph.outputs]


def sample_input(graph: Graph, seed: int = 0) -> np.ndarray:
    """A random input: int8 values, or for a float input values that quantize to random int8 levels."""
    rng = np.random.default_rng(seed)
    t = graph.tensor(graph.inputs[0])
    if t.dtype == 'int8':
        return rng.integers(-128, 128, size=t.shape).astype(np.int8)
    return rng.uniform(-1, 1, size=t.shape).astype(np.float32)


@dataclass
class Export:
    graph: Graph
    plan: MemoryPlan
    generated: Generated
    exe: Path
    report: dict


def export(graph: Graph, out_dir: Path, patches=None, split: Optional[str] = None,
           input_resident: bool = False, inputs: Optional[Sequence[Sequence[np.ndarray]]] = None,
           tflite: bool = True, plan: Optional[MemoryPlan] = None) -> Export:
    """Write ``model.h/.c``, ``host_main.c``, ``model.tflite``, the host build and ``report.json``.

    ``graph`` is finalized with trailing DEQUANTIZE ops stripped (the generated code returns int8).
    ``inputs``: graph input lists to check bit-exactness on (default one random sample).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = strip_output_dequantize(graph)
    if plan is None:
        plan = make_plan(graph, patches, split, input_resident)
    gen = generate(graph, plan)
    (out_dir / 'model.h').write_text(gen.header)
    (out_dir / 'model.c').write_text(gen.source)
    (out_dir / 'host_main.c').write_text(gen.host_main)
    if tflite:
        from ..tflite_writer import write_tflite
        (out_dir / 'model.tflite').write_bytes(write_tflite(graph))
    exe = host_build(out_dir)
    sizes = [graph.tensor(t).nbytes for t in gen.output_tensors]
    ok, boxes_ok, spec = True, None, yolo_spec(graph)
    for ins in (inputs if inputs is not None else [[sample_input(graph)]]):
        frame, ref = reference_io(graph, plan, ins)
        if spec is None:
            got = run_host(exe, frame, sizes)
        else:
            got, boxes = run_host(exe, frame, sizes, detect=True)
            same = same_detections(boxes, decode_yolo(spec, ref))
            boxes_ok = same if boxes_ok is None else boxes_ok and same
        ok = ok and all(np.array_equal(g, r.reshape(-1)) for g, r in zip(got, ref))
    report = {
        'graph': graph.name,
        'arena_bytes': plan.arena_bytes,
        'scratch_bytes': plan.scratch_bytes,
        'scratch_in_arena': plan.scratch_in_arena,
        'input_bytes': plan.input_bytes,
        'input_resident': plan.input_resident,
        'weights_bytes': gen.weights_bytes,
        'macs': gen.macs,
        'schedule': {'split_tensor': plan.split_tensor, 'grid': list(plan.grid) if plan.grid else None,
                     'num_stage_steps': plan.num_stage_steps, 'num_calls': gen.num_calls},
        'input_tensor': gen.input_tensor,
        'output_tensors': gen.output_tensors,
        'host_ops': list(plan.host_ops),
        'bitexact_vs_reference': bool(ok),
        'memory': memory_line(plan, gen),
    }
    if gen.detect is not None:
        # model_detect: static output maps + post-processing workspace, beside the arena.
        report['detect_bytes'] = gen.detect.sram_bytes
        report['detections_match_reference'] = bool(boxes_ok)
    (out_dir / 'report.json').write_text(json.dumps(report, indent=2) + '\n')
    return Export(graph, plan, gen, exe, report)


def memory_line(plan: MemoryPlan, gen: Generated) -> str:
    frame = ('resident (inside the arena)' if plan.input_resident
             else 'streamed (read from the caller\'s buffer, outside the arena)')
    det = (f'; detection post-processing {gen.detect.sram_bytes:,} B beside it (output maps + NMS workspace)'
           if gen.detect is not None else '')
    return (f'activation arena {plan.arena_bytes:,} B (scratch {plan.scratch_bytes:,} B inside it){det}; '
            f'input frame {plan.input_bytes:,} B {frame}; weights {gen.weights_bytes:,} B in flash')
