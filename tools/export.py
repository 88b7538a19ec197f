"""Export a model to C for the microcontroller runtime (``deploy/runtime``).

    python tools/export.py --tflite MODEL.tflite --out DIR [--patches auto|NxM] [--split K]
                           [--input-resident]

Writes DIR/model.h, DIR/model.c (weights as const arrays, one static arena, straight-line
runtime calls; the interface is documented in model.h and mcudet/deploy/codegen/emit.py),
DIR/host_main.c and DIR/host/model_host (a host build: gcc -std=c99 -O2 -Wall -Wextra -Werror ...),
DIR/model.tflite (the IR written back by mcudet's TFLite writer) and DIR/report.json. The host
build runs on a random sample input and its output is compared bit for bit with the NumPy
reference executor (``bitexact_vs_reference``).

PAD ops are folded into the convolutions; a float input read by one QUANTIZE is quantized by
the caller (the generated code takes the int8 frame); a DEQUANTIZE at an output is left to the
caller (the generated code returns int8). ``--split K``: the per-patch stage ends at the output
of the K-th layer as TinyEngine counts them (PAD, QUANTIZE, DEQUANTIZE, RESHAPE, TRANSPOSE are
not layers; ``split_index`` of TinyEngine's examples).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mcudet.deploy.codegen import export, layer_split  # noqa: E402
from mcudet.deploy.tflite_reader import read_tflite  # noqa: E402
from mcudet.deploy.transforms import fold_pads  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--tflite', required=True, type=Path, help='int8 .tflite model')
    p.add_argument('--out', required=True, type=Path, help='output folder')
    p.add_argument('--patches', default=None, help="'auto' or a grid NxM (default: per layer)")
    p.add_argument('--split', type=int, default=None, help='per-patch stage: the first K layers (with NxM)')
    p.add_argument('--input-resident', action='store_true', help='copy the input frame into the arena')
    args = p.parse_args(argv)
    if args.patches not in (None, 'auto'):
        m = re.fullmatch(r'(\d+)x(\d+)', args.patches)
        if not m:
            p.error(f"--patches {args.patches!r}: expected 'auto' or NxM")
        if args.split is None:
            p.error('--patches NxM needs --split K')
        args.patches = (int(m[1]), int(m[2]))
    elif args.split is not None:
        p.error('--split goes with --patches NxM')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    graph = fold_pads(read_tflite(args.tflite))
    split = layer_split(graph, args.split) if args.split is not None else None
    ex = export(graph, args.out, patches=args.patches, split=split, input_resident=args.input_resident)
    r = ex.report
    grid, split_t = r['schedule']['grid'], r['schedule']['split_tensor']
    sched = 'per layer' if grid is None else f'{grid[0]}x{grid[1]} patches up to {split_t!r}'
    print(f'{args.out}: model.h, model.c, model.tflite, host/model_host, report.json ({sched}, '
          f'{r["macs"]:,} MACs)')
    print(f"host build vs reference executor: {'bit-exact' if r['bitexact_vs_reference'] else 'MISMATCH'}")
    print(r['memory'])
    return 0 if r['bitexact_vs_reference'] else 1


if __name__ == '__main__':
    sys.exit(main())
