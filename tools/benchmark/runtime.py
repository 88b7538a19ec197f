"""Benchmark the generated C runtime against TFLite Micro on the zoo models (issue 7).

    python tools/benchmark/runtime.py [--models vww mcunet-in1 ...] [--runs 20]
                                      [--out work_dirs/benchmark/runtime.json]

For each model: our SRAM (arena + scratch, the input frame streamed from the caller's buffer and
reported apart) per layer and with ``--patches auto``, TFLite Micro's arena on the same
``.tflite`` (its total, and the activation plan, i.e. the head of its arena), the MACs, and the
host latency of our generated C (gcc -O2, portable kernels, per-layer schedule) against TFLite
Micro's interpreter (the ``tflite-micro`` wheel) on the same model, as a ratio from one run of
``--runs`` invocations each.

Models: ``vww`` is ``vww.tflite`` (../shared or $MCUDET_SHARED; TFLite Micro runs the original
file, with its float input and explicit PADs). The zoo names are the backbones of
``mcudet.arch.zoo`` with random int8 weights (no classifier), written by mcudet's TFLite writer;
both runtimes run that same file. Every export is checked bit for bit against the reference
executor first (a mismatch stops the benchmark).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mcudet.arch import zoo  # noqa: E402
from mcudet.deploy.cbuild import RUNTIME_DIR  # noqa: E402
from mcudet.deploy.codegen import export, make_plan, strip_output_dequantize  # noqa: E402
from mcudet.deploy.codegen.build import HOST_FLAGS, build_runtime_objects  # noqa: E402
from mcudet.deploy.ir import Graph  # noqa: E402

DEFAULT_MODELS = ('vww', 'mcunet-in0', 'mcunet-in1', 'mcunet-in2', 'mcunet-in3', 'mcunet-in4',
                  'mbv2-w0.35-r144', 'proxyless-w0.3-r176')
TINYENGINE_VWW = {'per layer': 93_992, '2x2 patches': 62_352}


def shared_dir() -> Path:
    return Path(os.environ.get('MCUDET_SHARED', REPO.parent / 'shared'))


def load(name: str) -> tuple[Graph, bytes]:
    """The graph we export and the ``.tflite`` bytes TFLite Micro runs."""
    from mcudet.deploy.tflite_writer import write_tflite

    if name == 'vww':
        from mcudet.deploy.tflite_reader import read_tflite
        from mcudet.deploy.transforms import fold_pads

        path = shared_dir() / 'reference' / 'tflite' / 'vww.tflite'
        if not path.is_file():
            raise FileNotFoundError(f'{path} is absent (set MCUDET_SHARED=/path/to/shared)')
        return fold_pads(read_tflite(path)), path.read_bytes()
    from mcudet.deploy.synthetic import graph_from_spec

    graph = graph_from_spec(zoo.get_spec(name))
    return graph, write_tflite(graph)


BENCH_MAIN = r'''/* Latency harness: runs model_invoke N times on a fixed pseudo-random frame. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"

%(outputs)s
int main(int argc, char **argv)
{
    static int8_t in[MODEL_INPUT_BYTES];
    struct timespec t0, t1;
    unsigned s = 12345u;
    long i, n = argc > 1 ? atol(argv[1]) : 10;
    for (i = 0; i < (long)sizeof in; ++i) { s = s * 1103515245u + 12345u; in[i] = (int8_t)(s >> 24); }
    if (model_invoke(in, %(args)s) != 0) return 3; /* warm-up */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; ++i) {
        if (model_invoke(in, %(args)s) != 0) return 3;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (double)n);
    return 0;
}
'''


def our_latency_ns(out_dir: Path, num_outputs: int, runs: int) -> float:
    """Nanoseconds per ``model_invoke`` of the generated code in ``out_dir`` (gcc, HOST_FLAGS)."""
    outputs = ''.join(f'static int8_t out{k}[MODEL_OUTPUT{k}_BYTES];\n' for k in range(num_outputs))
    args = ', '.join(f'out{k}' for k in range(num_outputs))
    (out_dir / 'bench_main.c').write_text(BENCH_MAIN % {'outputs': outputs, 'args': args})
    exe = out_dir / 'bench'
    subprocess.run(['gcc', *HOST_FLAGS, '-I', str(RUNTIME_DIR / 'include'), '-I', str(out_dir),
                    str(out_dir / 'model.c'), str(out_dir / 'bench_main.c'),
                    *map(str, build_runtime_objects()), '-lm', '-o', str(exe)], check=True)
    proc = subprocess.run([str(exe), str(runs)], capture_output=True, text=True, check=True)
    return float(proc.stdout)


def tflm_latency_ns(model: bytes, runs: int) -> float:
    """Nanoseconds per ``invoke`` of TFLite Micro's interpreter on ``model`` (after a warm-up)."""
    from mcudet.deploy.tflm import interpreter

    it = interpreter(model)
    d = it.get_input_details(0)
    rng = np.random.default_rng(0)
    if np.dtype(d['dtype']) == np.int8:
        x = rng.integers(-128, 128, size=tuple(d['shape'])).astype(np.int8)
    else:
        x = rng.uniform(-1, 1, size=tuple(d['shape'])).astype(d['dtype'])
    it.set_input(x, 0)
    it.invoke()
    t = time.perf_counter_ns()
    for _ in range(runs):
        it.invoke()
    return (time.perf_counter_ns() - t) / runs


def bench(name: str, runs: int) -> dict:
    from mcudet.deploy.tflm import tflm_arena

    graph, tfl = load(name)
    stripped = strip_output_dequantize(graph)
    per_layer = make_plan(stripped)
    auto = make_plan(stripped, 'auto')
    arena = tflm_arena(tfl)
    with tempfile.TemporaryDirectory() as tmp:
        ex = export(graph, Path(tmp), plan=per_layer, tflite=False)
        if not ex.report['bitexact_vs_reference']:
            raise SystemExit(f'{name}: the generated code differs from the reference executor')
        ours = our_latency_ns(Path(tmp), len(ex.generated.output_tensors), runs)
    theirs = tflm_latency_ns(tfl, runs)
    row = {
        'model': name, 'macs': ex.report['macs'], 'input_bytes': per_layer.input_bytes,
        'ours_per_layer_bytes': per_layer.total_bytes, 'ours_auto_bytes': auto.total_bytes,
        'auto_schedule': {'grid': list(auto.grid) if auto.grid else None, 'split_tensor': auto.split_tensor},
        'tflm_arena_bytes': arena.total, 'tflm_activation_bytes': arena.head,
        'ours_ms': ours / 1e6, 'tflm_ms': theirs / 1e6, 'speedup': theirs / ours, 'runs': runs,
    }
    if name == 'vww':
        row['tinyengine_bytes'] = TINYENGINE_VWW
    return row


def print_table(rows: list[dict]) -> None:
    print(f'{"model":20s} {"MACs":>12s} {"ours/layer":>11s} {"ours auto":>10s} {"grid":>5s} '
          f'{"TFLM arena":>11s} {"TFLM act.":>10s} {"ours ms":>8s} {"TFLM ms":>8s} {"speedup":>8s}')
    for r in rows:
        g = r['auto_schedule']['grid']
        grid = f'{g[0]}x{g[1]}' if g else '-'
        print(f'{r["model"]:20s} {r["macs"]:>12,} {r["ours_per_layer_bytes"]:>11,} '
              f'{r["ours_auto_bytes"]:>10,} {grid:>5s} {r["tflm_arena_bytes"]:>11,} '
              f'{r["tflm_activation_bytes"]:>10,} {r["ours_ms"]:>8.2f} {r["tflm_ms"]:>8.2f} '
              f'{r["speedup"]:>7.1f}x')
    print('SRAM = arena + scratch (the input frame is streamed and not counted; TFLite Micro keeps it in its '
          'arena). Latency: host x86, one run of --runs invocations each.')


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS),
                   help=f'vww and / or zoo names (default: {" ".join(DEFAULT_MODELS)})')
    p.add_argument('--runs', type=int, default=10, help='invocations timed per runtime')
    p.add_argument('--out', type=Path, default=REPO / 'work_dirs' / 'benchmark' / 'runtime.json')
    args = p.parse_args(argv)
    rows = []
    for name in args.models:
        rows.append(bench(name, args.runs))
        print(f'{name}: done', file=sys.stderr)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix('.json.tmp')
    tmp.write_text(json.dumps({'rows': rows}, indent=1) + '\n')
    tmp.replace(args.out)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
