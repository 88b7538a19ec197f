"""Export a model to C for the microcontroller runtime (``deploy/runtime``).

    python tools/export.py CONFIG CHECKPOINT --out DIR [--patches auto|NxM] [--split K] [--calib N]
    python tools/export.py --tflite MODEL.tflite --out DIR [--patches auto|NxM] [--split K]
    common options: [--input-resident] [--board NAME [--run-qemu] [--no-dsp]]
                    [--cfg-options k=v ...] (with CONFIG)

CONFIG CHECKPOINT: the model of an mmdet / mcudet config with a QAT checkpoint (its activation
ranges are used as they are) or a float checkpoint (post-training quantization: the ranges are
calibrated on ``--calib N`` images of the config's ``train_dataloader``), lowered to the int8
IR at the input size of the config's test pipeline. ``--split K``: the per-patch stage is the
first K backbone units (stem = 1; ``make_patch_plan``'s split, as memory_profile counts it).

--tflite MODEL: an int8 ``.tflite`` (PAD ops are folded into the convolutions; a float input
read by one QUANTIZE is quantized by the caller; a DEQUANTIZE at an output is left to the
caller). ``--split K``: the output of the K-th layer as TinyEngine counts them (PAD, QUANTIZE,
DEQUANTIZE, RESHAPE, TRANSPOSE are not layers; ``split_index`` of TinyEngine's examples).

Writes DIR/model.h, DIR/model.c (weights as const arrays, one static arena, straight-line
runtime calls; the interface is documented in model.h), DIR/host_main.c and DIR/host/model_host
(a host build with -Wall -Wextra -Werror), DIR/model.tflite (the IR written by mcudet's TFLite
writer) and DIR/report.json. The host build runs on sample inputs (test images for a config, a
random frame for a .tflite) and its output is compared bit for bit with the NumPy reference
executor (``bitexact_vs_reference``). DIR is written whole or not at all: the files are made in
a staging folder beside it that replaces DIR at the end.

--board NAME builds the Cortex-M firmware (DIR/firmware/NAME-dsp/firmware.elf) linked to the
board's SRAM and flash budgets: an over-budget model says by how much and proposes a patch
schedule that fits (exit status 1). --run-qemu runs it in QEMU on the same inputs: the outputs
(and a detector's boxes) must equal the reference; report.json gets flash_bytes, sram_bytes,
stack_bytes, fits, instructions (QEMU counts instructions, not cycles) and the whole record under
``firmware``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmengine.config import DictAction  # noqa: E402

from mcudet.deploy.codegen import export, layer_split  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', nargs='?', type=Path, help='mmengine config of the model')
    p.add_argument('checkpoint', nargs='?', type=Path, help='its checkpoint (QAT, or float for PTQ)')
    p.add_argument('--tflite', type=Path, help='an int8 .tflite model instead of CONFIG CHECKPOINT')
    p.add_argument('--out', required=True, type=Path, help='output folder')
    p.add_argument('--patches', default=None, help="'auto' or a grid NxM (default: per layer)")
    p.add_argument('--split', type=int, default=None, help='per-patch stage: the first K units / layers')
    p.add_argument('--calib', type=int, default=32, metavar='N',
                   help='PTQ calibration images for a float checkpoint (default 32)')
    p.add_argument('--input-resident', action='store_true', help='copy the input frame into the arena')
    p.add_argument('--board', help='also build the Cortex-M firmware for this board profile '
                   '(configs/boards: stm32f412, stm32f746, stm32h743, netduinoplus2) and check its budgets')
    p.add_argument('--run-qemu', action='store_true',
                   help='with --board: run the firmware in QEMU and compare it with the reference')
    p.add_argument('--no-dsp', action='store_true', help='with --board: portable kernels, no Arm DSP path')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override settings of CONFIG, key=value pairs (e.g. data_root=data/voc/)')
    args = p.parse_args(argv)
    if args.cfg_options and args.config is None:
        p.error('--cfg-options goes with CONFIG CHECKPOINT')
    if (args.tflite is None) == (args.config is None):
        p.error('give either CONFIG CHECKPOINT or --tflite MODEL.tflite')
    if args.config is not None and args.checkpoint is None:
        p.error(f'{args.config}: the checkpoint is missing (CONFIG CHECKPOINT)')
    for path in (args.config, args.checkpoint, args.tflite):
        if path is not None and not path.is_file():
            p.error(f'{path}: no such file')
    if (args.run_qemu or args.no_dsp) and args.board is None:
        p.error('--run-qemu and --no-dsp go with --board NAME')
    if args.board is not None:
        from mcudet.deploy.boards import BoardError, load_board

        try:
            load_board(args.board)
        except BoardError as e:
            p.error(str(e))
    if args.patches not in (None, 'auto'):
        m = re.fullmatch(r'(\d+)x(\d+)', args.patches)
        if not m or int(m[1]) < 1 or int(m[2]) < 1:
            p.error(f"--patches {args.patches!r}: expected 'auto' or NxM, for example 2x2")
        if args.split is None:
            p.error('--patches NxM needs --split K')
        args.patches = (int(m[1]), int(m[2]))
    elif args.split is not None:
        p.error('--split goes with --patches NxM')
    return args


def load_graph(args: argparse.Namespace):
    """The int8 graph to export, the split tensor of ``--split`` and the inputs to check."""
    if args.tflite is not None:
        from mcudet.deploy.tflite_reader import read_tflite
        from mcudet.deploy.transforms import fold_pads

        graph = fold_pads(read_tflite(args.tflite))
        split = layer_split(graph, args.split) if args.split is not None else None
        return graph, split, None
    from mcudet.quantization.from_config import quantize_config
    from mcudet.quantization.lowering import split_tensor

    q = quantize_config(args.config, args.checkpoint, calib_images=args.calib, cfg_options=args.cfg_options)
    how = ('QAT ranges from the checkpoint' if q.mode == 'qat'
           else f'PTQ calibrated on {q.calib_images} images')
    print(f'{args.config}: int8 graph {q.graph.name!r}, {len(q.graph.ops)} ops, {how}')
    split = split_tensor(q.graph, args.split) if args.split is not None else None
    return q.graph, split, [[f] for f in q.frames]


def main(argv=None) -> int:
    args = parse_args(argv)
    graph, split, inputs = load_graph(args)
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f'.{out.name}.partial-', dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; DIR gets the usual permissions
    try:
        ex = export(graph, stage, patches=args.patches, split=split, input_resident=args.input_resident,
                    inputs=inputs)
        check = board_check(ex, stage, args, inputs) if args.board else None
        old = out.with_name(f'.{out.name}.old')
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        stage.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    r = ex.report
    grid, split_t = r['schedule']['grid'], r['schedule']['split_tensor']
    sched = 'per layer' if grid is None else f'{grid[0]}x{grid[1]} patches up to {split_t!r}'
    print(f'{args.out}: model.h, model.c, model.tflite, host/model_host, report.json ({sched}, '
          f'{r["macs"]:,} MACs)')
    print(f"host build vs reference executor: {'bit-exact' if r['bitexact_vs_reference'] else 'MISMATCH'}")
    if 'detections_match_reference' in r:
        print(f"detections (model_detect) vs decode_yolo: "
              f"{'identical' if r['detections_match_reference'] else 'DIFFER'}")
    print(r['memory'])
    exact = r['bitexact_vs_reference'] and r.get('detections_match_reference') is not False
    if check is None:
        return 0 if exact else 1
    print(check.line())
    if check.fits and check.error == '':
        print(f'SRAM: {", ".join(f"{k} {v:,}" for k, v in check.sram.items())} B')
        print(f'flash: {", ".join(f"{k} {v:,}" for k, v in check.flash.items())} B')
    return 0 if exact and check.fits else 1


def board_check(ex, stage: Path, args: argparse.Namespace, inputs):
    """Build (and with --run-qemu run) the firmware; merge its figures into report.json."""
    import json

    from mcudet.deploy.firmware import check_export

    check = check_export(ex, args.board, export_dir=stage, dsp=not args.no_dsp, run_qemu=args.run_qemu,
                         inputs=inputs)
    r = ex.report
    fw = check.to_dict()
    r['firmware'] = fw
    r.update({k: fw[k] for k in ('flash_bytes', 'sram_bytes', 'stack_bytes', 'fits', 'instructions',
                                 'instructions_per_mac')})
    r['board'] = check.board
    if args.run_qemu:
        r['bitexact_vs_reference_host'] = r['bitexact_vs_reference']
        r['bitexact_vs_reference'] = bool(r['bitexact_vs_reference'] and check.bitexact_vs_reference)
        if check.detections_match_reference is not None:
            r['detections_match_reference'] = bool(r['detections_match_reference']
                                                   and check.detections_match_reference)
    (stage / 'report.json').write_text(json.dumps(r, indent=2) + '\n')
    return check


if __name__ == '__main__':
    sys.exit(main())
