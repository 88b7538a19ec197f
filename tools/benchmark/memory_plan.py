"""Benchmark the memory planner against TinyEngine and TFLite Micro (``design/figures.md``).

    python tools/benchmark/memory_plan.py [--out work_dirs/benchmark/memory_plan.json] [--max-grid 6]

Networks:
  * ``vww.tflite`` (mcunet-vww1, 80x80, read from ../shared or $MCUDET_SHARED), PAD ops folded into
    the convolutions, the input QUANTIZE done at the source (int8 frame, 19,200 bytes). Per layer;
    2x2 patches over TinyEngine's "first 5 layers" (TinyEngine counts its own layers: PAD and
    QUANTIZE are folded away, so layers 0-4 are conv 3x3 s2, dw 3x3, pw, pw, dw 3x3 s2 and the
    stage ends at the 20x20x48 output of ``depthwise_conv2d_7``; ``split_index = 5`` in TinyEngine's
    examples/vww_patchbased.py); ``--patches auto``.
  * MobileNetV2 width 0.35 at 144x144 (zoo ``mbv2-w0.35-r144``, random int8 weights; tensor sizes
    are those of the TF-padded model TFLite Micro ran): per layer, 4x4 and 3x3 patches over the
    first 5 units, and auto.

Each network is also planned without in-place ops, input resident and scratch outside the arena:
the TFLite Micro setting, whose greedy plan the planner must reproduce (161,472 / 311,040 bytes).
SRAM = arena + scratch; the input frame is outside it when streamed (the paper's and TinyEngine's
patch-based convention) and inside when resident. Plans use the planner's full in-place contract
(depthwise, 1x1 convs, elementwise ops, reshape), which deploy/runtime implements and the code
generator uses. The exit code checks the targets.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mcudet.arch import zoo  # noqa: E402
from mcudet.deploy.ir import Graph  # noqa: E402
from mcudet.deploy.memory_plan import MemoryPlan, auto_plan, plan_memory  # noqa: E402
from mcudet.deploy.patch_exec import plan_from_graph  # noqa: E402
from mcudet.deploy.synthetic import graph_from_spec  # noqa: E402
from mcudet.deploy.transforms import fold_pads  # noqa: E402

TINYENGINE_PER_LAYER = 93_992
TINYENGINE_PATCH_2X2 = 62_352
TFLM_VWW_ACTIVATIONS = 161_472
TFLM_MBV2_ACTIVATIONS = 311_040
SKIPPED_BY_TINYENGINE = ('pad', 'quantize', 'dequantize', 'reshape', 'transpose')


def shared_dir() -> Path:
    return Path(os.environ.get('MCUDET_SHARED', REPO.parent / 'shared'))


def tinyengine_split(graph: Graph, layers: int) -> str:
    """Output of TinyEngine's ``layers``-th layer (it folds PAD into the next conv and skips QUANTIZE)."""
    counted = [op for op in graph.ops if op.kind not in SKIPPED_BY_TINYENGINE]
    return counted[layers - 1].outputs[0]


def row(network: str, schedule: str, mp: MemoryPlan, target: int | None = None, reference: str = '',
        seconds: float = 0.0) -> dict:
    return {'network': network, 'schedule': schedule, 'inplace_rules': list(mp.inplace_rules),
            'split_tensor': mp.split_tensor,
            'grid': list(mp.grid) if mp.grid else None, 'input_resident': mp.input_resident,
            'sram_bytes': mp.total_bytes, 'arena_bytes': mp.arena_bytes, 'scratch_bytes': mp.scratch_bytes,
            'scratch_in_arena': mp.scratch_in_arena, 'activation_peak_bytes': mp.activation_peak_bytes,
            'lower_bound_bytes': mp.lower_bound_bytes, 'input_bytes': mp.input_bytes,
            'weights_bytes': mp.weights_bytes, 'peak_op': mp.peak_op, 'heuristic': mp.heuristic,
            'target_bytes': target, 'meets_target': None if target is None else mp.total_bytes <= target,
            'reference': reference, 'seconds': round(seconds, 3), 'summary': mp.summary()}


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def bench_vww(path: Path, max_grid: int) -> list[dict]:
    from mcudet.deploy.tflite_reader import read_tflite

    raw = read_tflite(path)
    rows = []
    tflm, dt = timed(plan_memory, raw, input_resident=True, inplace=(), scratch_in_arena=False,
                     int8_frame=False)
    rows.append(row('vww.tflite', 'per layer, TFLite Micro setting (no in-place, PADs, float input)', tflm,
                    TFLM_VWW_ACTIVATIONS, f'TFLite Micro activation plan {TFLM_VWW_ACTIVATIONS:,}', dt))
    rows[-1]['sram_bytes'] = tflm.arena_bytes  # TFLite Micro's figure is the activation plan alone
    rows[-1]['meets_target'] = tflm.arena_bytes == TFLM_VWW_ACTIVATIONS
    graph = fold_pads(raw)
    for resident in (False, True):
        mp, dt = timed(plan_memory, graph, input_resident=resident)
        rows.append(row('vww.tflite', 'per layer', mp, 85_000 if not resident else None,
                        f'TinyEngine {TINYENGINE_PER_LAYER:,}', dt))
    split = tinyengine_split(graph, 5)
    for resident in (False, True):
        plan = plan_from_graph(graph, split, 2)
        mp, dt = timed(plan_memory, graph, plan, input_resident=resident)
        rows.append(row('vww.tflite', '2x2 patches, first 5 layers', mp,
                        TINYENGINE_PATCH_2X2 if not resident else None,
                        f'TinyEngine {TINYENGINE_PATCH_2X2:,} (frame outside)', dt))
    for resident in (False, True):
        res, dt = timed(auto_plan, graph, input_resident=resident, max_grid=max_grid)
        rows.append(row('vww.tflite', f'--patches auto (grids up to {max_grid}x{max_grid})', res.plan,
                        50_000 if not resident else None, f'TinyEngine {TINYENGINE_PATCH_2X2:,}', dt))
    return rows


def bench_mbv2(max_grid: int) -> list[dict]:
    spec = zoo.get_spec('mbv2-w0.35-r144')
    graph = graph_from_spec(spec)
    rows = []
    tflm, dt = timed(plan_memory, graph, input_resident=True, inplace=(), scratch_in_arena=False)
    rows.append(row('mbv2-w0.35-r144', 'per layer, TFLite Micro setting (no in-place)', tflm,
                    TFLM_MBV2_ACTIVATIONS, f'TFLite Micro activation plan {TFLM_MBV2_ACTIVATIONS:,}', dt))
    rows[-1]['sram_bytes'] = tflm.arena_bytes
    rows[-1]['meets_target'] = tflm.arena_bytes == TFLM_MBV2_ACTIVATIONS
    for resident in (False, True):
        mp, dt = timed(plan_memory, graph, input_resident=resident)
        rows.append(row('mbv2-w0.35-r144', 'per layer', mp, None, f'TFLite Micro {TFLM_MBV2_ACTIVATIONS:,}',
                        dt))
    split = [op for op in graph.ops if op.group == 'blocks.3'][-1].outputs[0]  # first 5 units
    for grid in (4, 3):
        for resident in (False, True):
            mp, dt = timed(plan_memory, graph, plan_from_graph(graph, split, grid), input_resident=resident)
            rows.append(row('mbv2-w0.35-r144', f'{grid}x{grid} patches, first 5 units', mp,
                            78_000 if not resident else None,
                            f'TFLite Micro / 4 = {TFLM_MBV2_ACTIVATIONS // 4:,}', dt))
    for resident in (False, True):
        res, dt = timed(auto_plan, graph, input_resident=resident, max_grid=max_grid)
        rows.append(row('mbv2-w0.35-r144', f'--patches auto (grids up to {max_grid}x{max_grid})', res.plan,
                        78_000 if not resident else None, '', dt))
    return rows


def print_table(rows: list[dict]) -> None:
    print(f'{"network":16s} {"schedule":58s} {"frame":9s} {"SRAM":>9s} {"scratch":>8s} {"peak op":24s} '
          f'{"target":>9s}  ok   reference')
    for r in rows:
        target = f'{r["target_bytes"]:,}' if r['target_bytes'] else '-'
        ok = {True: 'yes', False: 'NO', None: '-'}[r['meets_target']]
        frame = 'resident' if r['input_resident'] else 'streamed'
        print(f'{r["network"]:16s} {r["schedule"][:58]:58s} {frame:9s} {r["sram_bytes"]:>9,} '
              f'{r["scratch_bytes"]:>8,} {r["peak_op"][:24]:24s} {target:>9s}  {ok:4s} {r["reference"]}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=str(REPO / 'work_dirs' / 'benchmark' / 'memory_plan.json'))
    parser.add_argument('--max-grid', type=int, default=6)
    args = parser.parse_args()
    rows = []
    vww = shared_dir() / 'reference' / 'tflite' / 'vww.tflite'
    if vww.is_file():
        rows += bench_vww(vww, args.max_grid)
    else:
        print(f'skipping vww.tflite: {vww} is absent (set MCUDET_SHARED)', file=sys.stderr)
    rows += bench_mbv2(args.max_grid)
    print_table(rows)
    for r in rows:
        print(' ', r['summary'])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({'rows': rows}, indent=1))
    print(f'wrote {out}')
    return 0 if all(r['meets_target'] is not False for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
