"""Benchmark the Cortex-M firmware in QEMU: instructions (not cycles) per MAC of the runtime's kernels
and of vww.tflite, per layer and patch-based (``mcudet.deploy.firmware``).

    python tools/benchmark/firmware.py [--out work_dirs/benchmark/firmware.json]

Rows:
  * one 1x1 conv (16x16x64 -> 64) and one 3x3 depthwise conv (24x24x64), on stm32f412 (Cortex-M4,
    QEMU mps2-an386), portable C and the DSP path. SMLAD does two 16-bit MACs per instruction, so
    0.5 instructions per MAC is the floor of an int8 conv inner loop on this core.
  * ``vww.tflite`` (mcunet-vww1, read from ../shared or $MCUDET_SHARED; PADs folded, the input
    QUANTIZE done at the source): per layer and 2x2 patches over TinyEngine's first 5 layers, on
    stm32f412 (DSP and portable) and stm32f746 (Cortex-M7, mps2-an500, DSP). Target: <= 1.0
    instruction per MAC for the whole network on M4 with DSP.
  * where vww's instructions go on M4 + DSP (per-function profile from the plugin), grouped into
    convolution kernels (1x1 and general conv: im2col column, dot products, requantization),
    depthwise kernels and the rest, each against the MACs of its op kind.

Counts come from the QEMU TCG plugin (exact) when its header is installed (tools/install.sh), else
from -icount + SysTick (to within one tick: 40 instructions on MPS2). All outputs are checked bit
for bit against the NumPy reference executor. The exit code is 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mcudet.deploy.builder import GraphBuilder  # noqa: E402
from mcudet.deploy.codegen import export, layer_split, reference_io, sample_input  # noqa: E402
from mcudet.deploy.firmware import build_firmware, run_firmware  # noqa: E402
from mcudet.deploy.ir import Graph  # noqa: E402
from mcudet.deploy.qemu_plugin import plugin_library  # noqa: E402

VWW_TARGET = 1.0  # instructions per MAC, whole vww.tflite on M4 + DSP
SMLAD_FLOOR = 0.5
# Function-name prefixes of each group (conv2d.c's static tap staging is stage_*, depthwise_conv2d.c's dw_*).
CONV_FUNCS = ('mcu_internal_dot', 'mcu_internal_col', 'mcu_internal_pw', 'mcu_conv2d', 'mcu_fully_connected',
              'stage_')
DW_FUNCS = ('mcu_internal_dw_', 'mcu_depthwise', 'dw_')


def shared_dir() -> Path:
    return Path(os.environ.get('MCUDET_SHARED', REPO.parent / 'shared'))


def conv1x1(hw: int, cin: int, cout: int) -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder(f'conv1x1_{hw}x{hw}x{cin}_to_{cout}')
    x = b.input('x', (1, hw, hw, cin), 0.02, 0)
    w = rng.integers(-127, 128, (cout, 1, 1, cin)).astype(np.int8)
    bias = rng.integers(-1000, 1000, cout).astype(np.int32)
    y = b.conv2d('pw', x, w, bias, np.full(cout, 0.002, np.float32), 0.05, -128, activation='relu6')
    b.output(y)
    return b.build()


def depthwise(hw: int, c: int, k: int) -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder(f'depthwise{k}x{k}_{hw}x{hw}x{c}')
    x = b.input('x', (1, hw, hw, c), 0.02, 0)
    w = rng.integers(-127, 128, (1, k, k, c)).astype(np.int8)
    bias = rng.integers(-1000, 1000, c).astype(np.int32)
    y = b.depthwise_conv2d('dw', x, w, bias, np.full(c, 0.01, np.float32), 0.05, -128, activation='relu6')
    b.output(y)
    return b.build()


def measure(graph: Graph, inputs: list, out: Path, board: str, dsp: bool, profile: bool = False,
            **kw) -> dict:
    """Export, build, run once; a result row."""
    ex = export(graph, out, inputs=[inputs], tflite=False, **kw)
    frame, ref = reference_io(ex.graph, ex.plan, inputs)
    fw = build_firmware(out, board, dsp=dsp)
    t = time.time()
    run = run_firmware(fw, frame, timeout=600, profile=profile)
    seconds = time.time() - t
    exact = all(np.array_equal(g, r.reshape(-1)) for g, r in zip(run.outputs[0], ref))
    n = run.instructions[0] if run.instructions else None
    macs = ex.report['macs']
    return {'model': graph.name, 'schedule': 'per layer' if ex.plan.grid is None else
            f'{ex.plan.grid[0]}x{ex.plan.grid[1]} patches, first 5 layers', 'board': board,
            'cpu': fw.board.cpu, 'dsp': dsp, 'macs': macs, 'instructions': n,
            'instructions_per_mac': round(n / macs, 3) if n else None, 'counter': run.counter,
            'bitexact_vs_reference': exact, 'flash_bytes': fw.flash.total, 'sram_bytes': fw.sram.total,
            'arena_bytes': fw.sram.arena, 'stack_bytes': run.stack_bytes, 'qemu_seconds': round(seconds, 2),
            'profile': run.profile, 'op_macs': op_macs(ex.graph)}


def op_macs(graph: Graph) -> dict[str, int]:
    """MACs per op kind (conv = conv2d + fully connected; depthwise) of a graph run per layer."""
    out = {'conv': 0, 'depthwise': 0}
    for op in graph.ops:
        if op.kind in ('conv2d', 'depthwise_conv2d', 'fully_connected'):
            o = graph.tensor(op.outputs[0]).shape
            w = graph.tensor(op.inputs[1]).shape
            if op.kind == 'fully_connected':
                out['conv'] += int(np.prod(w))
            elif op.kind == 'conv2d':
                out['conv'] += o[1] * o[2] * int(np.prod(w))
            else:
                out['depthwise'] += o[1] * o[2] * o[3] * w[1] * w[2]
    return out


def breakdown(row: dict) -> list[dict]:
    """The profile of a row grouped into conv kernels, depthwise kernels and the rest."""
    groups = {'conv kernels (1x1, general, FC)': 0, 'depthwise kernels': 0, 'everything else': 0}
    for name, n in row['profile'].items():
        key = ('conv kernels (1x1, general, FC)' if name.startswith(CONV_FUNCS) else
               'depthwise kernels' if name.startswith(DW_FUNCS) else 'everything else')
        groups[key] += n
    macs = {'conv kernels (1x1, general, FC)': row['op_macs']['conv'],
            'depthwise kernels': row['op_macs']['depthwise'], 'everything else': 0}
    return [{'group': g, 'instructions': n, 'share': round(n / row['instructions'], 3), 'macs': macs[g],
             'instructions_per_mac': round(n / macs[g], 3) if macs[g] else None} for g, n in groups.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=str(REPO / 'work_dirs' / 'benchmark' / 'firmware.json'))
    args = parser.parse_args()
    lib, why = plugin_library()
    print(f'instruction counter: {"QEMU TCG plugin (exact)" if lib else "-icount + SysTick (" + why + ")"}')
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix='mcudet-bench-') as tmp:
        tmp = Path(tmp)
        for graph in (conv1x1(16, 64, 64), depthwise(24, 64, 3)):
            x = [np.random.default_rng(1).integers(-128, 128, graph.tensor('x').shape).astype(np.int8)]
            for dsp in (False, True):
                rows.append(measure(graph, x, tmp / f'{graph.name}-{dsp}', 'stm32f412', dsp))
        vww_path = shared_dir() / 'reference' / 'tflite' / 'vww.tflite'
        if vww_path.is_file():
            from mcudet.deploy.tflite_reader import read_tflite
            from mcudet.deploy.transforms import fold_pads

            vww = fold_pads(read_tflite(vww_path))
            vww.name = 'vww.tflite'
            ins = [sample_input(vww, 0)]
            patch = {'patches': (2, 2), 'split': layer_split(vww, 5)}
            runs = [('stm32f412', True, {}), ('stm32f412', True, patch), ('stm32f412', False, {}),
                    ('stm32f412', False, patch), ('stm32f746', True, {}), ('stm32f746', True, patch)]
            for board, dsp, kw in runs:
                prof = bool(lib) and board == 'stm32f412' and dsp and not kw
                rows.append(measure(vww, ins, tmp / f'vww-{board}-{dsp}-{bool(kw)}', board, dsp, prof, **kw))
        else:
            print(f'{vww_path} is absent: vww rows skipped (set MCUDET_SHARED)')

    head = (f'{"model":34s} {"schedule":28s} {"board":10s} {"path":8s} {"MACs":>11s} {"instructions":>13s} '
            f'{"instr/MAC":>9s} {"bit-exact":>9s} {"flash B":>9s} {"SRAM B":>8s} {"stack B":>7s}')
    print(head)
    print('-' * len(head))
    for r in rows:
        print(f'{r["model"]:34s} {r["schedule"]:28s} {r["board"]:10s} {"DSP" if r["dsp"] else "portable":8s} '
              f'{r["macs"]:11,d} {r["instructions"] or 0:13,d} {r["instructions_per_mac"] or 0:9.3f} '
              f'{str(r["bitexact_vs_reference"]):>9s} {r["flash_bytes"]:9,d} {r["sram_bytes"]:8,d} '
              f'{r["stack_bytes"]:7,d}')
    result: dict = {'counter': rows[0]['counter'] if rows else None,
                    'smlad_floor_instructions_per_mac': SMLAD_FLOOR,
                    'rows': [{k: v for k, v in r.items() if k not in ('profile', 'op_macs')} for r in rows]}
    ok = all(r['bitexact_vs_reference'] for r in rows)
    vww_m4 = [r for r in rows if r['model'] == 'vww.tflite' and r['board'] == 'stm32f412' and r['dsp']]
    if vww_m4:
        per_layer, patched = vww_m4[0], vww_m4[1]
        extra = patched['instructions'] / per_layer['instructions'] - 1
        extra_macs = patched['macs'] / per_layer['macs'] - 1
        print(f'\nvww.tflite on M4 + DSP: per layer {per_layer["instructions"]:,} instructions, 2x2 patches '
              f'{patched["instructions"]:,} ({extra:+.1%}; MACs {extra_macs:+.1%})')
        met = per_layer['instructions_per_mac'] <= VWW_TARGET
        print(f'target: <= {VWW_TARGET} instruction per MAC for the whole network: '
              f'{per_layer["instructions_per_mac"]:.3f} -> {"met" if met else "MISSED"}')
        result['vww_m4_dsp'] = {'per_layer_instructions': per_layer['instructions'],
                                'patch_2x2_instructions': patched['instructions'],
                                'instructions_per_mac': per_layer['instructions_per_mac'],
                                'target_instructions_per_mac': VWW_TARGET, 'target_met': met}
        ok = ok and met
        if per_layer['profile']:
            groups = breakdown(per_layer)
            print('\nwhere the instructions go (vww.tflite per layer, M4 + DSP):')
            for g in groups:
                ipm = f'{g["instructions_per_mac"]:.3f} per MAC of {g["macs"]:,}' if g['macs'] else ''
                print(f'  {g["group"]:34s} {g["instructions"]:12,d} ({g["share"]:5.1%}) {ipm}')
            top = list(per_layer['profile'].items())[:8]
            print('  top functions: ' + ', '.join(f'{n} {v / per_layer["instructions"]:.1%}' for n, v in top))
            result['vww_m4_dsp']['breakdown'] = groups
            result['vww_m4_dsp']['top_functions'] = dict(top)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f'.{out.name}.tmp')
    tmp_out.write_text(json.dumps(result, indent=1) + '\n')
    tmp_out.replace(out)
    print(f'\nwrote {out}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
