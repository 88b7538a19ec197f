"""The main job end to end on the built-in synthetic dataset (``make demo``).

Stages, each the command a user would type, run as subprocesses:
  1. generate the procedural shapes set in the Pascal VOC layout (once);
  2. train the tiny YOLO detector (``tools/train.py``; an interrupted demo resumes);
  3. evaluate it (``tools/test.py``): mAP@0.5;
  4. evaluate it again with the patch-based backbone: the same predictions, the same mAP;
  5. the analytic SRAM of the backbone, per-layer vs patch-based (``memory_profile.py``);
  6. int8: post-training quantization evaluated with ``tools/test.py`` (the QAT config, mode=ptq);
  7. firmware: ``tools/export.py --patches auto --board stm32f412 --run-qemu``: int8 graph, C code,
     Cortex-M4 firmware run in QEMU; its maps and boxes equal the Python int8 reference.
Prints a summary table at the end and writes it to ``work_dirs/demo/summary.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/det/mbv2-w035_tinyyolo_synthetic.py'
PATCH_CONFIG = 'configs/det/mbv2-w035_tinyyolo_synthetic_patch.py'
QAT_CONFIG = 'configs/det/mbv2-w035_tinyyolo_synthetic_qat.py'
BOARD = 'stm32f412'


def run(cmd: list[str], log_path: str | None = None) -> str:
    """Run a command from the repo root, echo it, stream its output, return the output."""
    print('$ ' + ' '.join(cmd), flush=True)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.Popen([sys.executable if c == 'python' else c for c in cmd], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    log = open(log_path, 'a') if log_path else None
    for line in proc.stdout:
        lines.append(line)
        if log:
            log.write(line)
        # Keep the console readable: progress and results, not mmengine's environment dump.
        if re.search(r'Epoch\(|Iter\(|mAP|error|Error|rror:|\[demo|^\S.*\||bit-exact|budget|int8 graph',
                     line) or not log:
            print('  ' + line.rstrip(), flush=True)
    if log:
        log.close()
    if proc.wait() != 0:
        tail = ''.join(lines[-40:])
        raise SystemExit(f'demo: `{" ".join(cmd)}` failed (exit {proc.returncode}); last lines:\n{tail}')
    return ''.join(lines)


def last_map(output: str) -> float:
    found = re.findall(r'pascal_voc/mAP: ([0-9.]+)', output)
    if not found:
        raise SystemExit('demo: no pascal_voc/mAP in the test output')
    return float(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/synthetic_voc')
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--images', type=int, default=400, help='training images to generate')
    args = parser.parse_args()
    os.chdir(REPO)
    os.makedirs(args.work_dir, exist_ok=True)
    log_path = osp.join(args.work_dir, 'demo.log')
    voc_root = osp.join(args.data_root, 'VOCdevkit') + '/'
    data_opts = [f'data_root={voc_root}'] + [f'{split}_dataloader.dataset.data_root={voc_root}'
                                             for split in ('train', 'val', 'test')]
    summary: dict = {}
    start = time.time()

    print('\n[demo 1/7] synthetic shapes set (Pascal VOC layout)', flush=True)
    if osp.exists(osp.join(voc_root, 'VOC2007', 'ImageSets', 'Main', 'test.txt')):
        print(f'  {voc_root} exists; reusing it')
    else:
        run(['python', 'tools/dataset_converters/make_synthetic.py', 'voc', args.data_root,
             '--num-trainval', str(args.images), '--num-test', str(args.images // 4)])

    print(f'\n[demo 2/7] train {CONFIG} for {args.epochs} epochs on the CPU (resumes if interrupted)',
          flush=True)
    t0 = time.time()
    train_dir = osp.join(args.work_dir, 'train')
    run(['python', 'tools/train.py', CONFIG, '--work-dir', train_dir, '--resume', 'auto',
         '--cfg-options', f'train_cfg.max_epochs={args.epochs}', *data_opts], log_path)
    summary['train_minutes'] = round((time.time() - t0) / 60, 2)
    ckpt = osp.join(train_dir, f'epoch_{args.epochs}.pth')

    print('\n[demo 3/7] evaluate: tools/test.py', flush=True)
    out = run(['python', 'tools/test.py', CONFIG, ckpt, '--work-dir', osp.join(args.work_dir, 'test'),
               '--cfg-options', *data_opts], log_path)
    summary['mAP50'] = last_map(out)

    print('\n[demo 4/7] evaluate with the patch-based backbone (the MCU schedule, in PyTorch)', flush=True)
    out = run(['python', 'tools/test.py', PATCH_CONFIG, ckpt, '--work-dir',
               osp.join(args.work_dir, 'test_patch'), '--cfg-options', *data_opts], log_path)
    summary['mAP50_patch_based'] = last_map(out)

    print('\n[demo 5/7] analytic SRAM of the backbone: per-layer vs patch-based', flush=True)
    mem_json = osp.join(args.work_dir, 'memory.json')
    run(['python', 'tools/analysis_tools/memory_profile.py', PATCH_CONFIG, '--input-size', '160',
         '--json', mem_json, '--plot', osp.join(args.work_dir, 'memory.png')])
    with open(mem_json) as f:
        mem = json.load(f)
    summary.update(per_layer_peak_bytes=mem['per_layer_peak_bytes'], patch_peak_bytes=mem['patch_peak_bytes'],
                   input_patch_size=mem['input_patch_size'], macs=mem['macs'], patch_macs=mem['patch_macs'])

    print('\n[demo 6/7] int8: post-training quantization, evaluated with tools/test.py', flush=True)
    out = run(['python', 'tools/test.py', QAT_CONFIG, ckpt, '--work-dir',
               osp.join(args.work_dir, 'test_int8'), '--cfg-options', 'quantization.mode=ptq',
               'quantization.progress=False', *data_opts], log_path)
    summary['mAP50_int8_ptq'] = last_map(out)

    print(f'\n[demo 7/7] int8 graph -> C -> Cortex-M4 firmware ({BOARD}) -> QEMU', flush=True)
    fw_dir = osp.join(args.work_dir, 'firmware')
    run(['python', 'tools/export.py', CONFIG, ckpt, '--out', fw_dir, '--patches', 'auto', '--calib', '32',
         '--board', BOARD, '--run-qemu', '--cfg-options', *data_opts], log_path)
    with open(osp.join(fw_dir, 'report.json')) as f:
        fw = json.load(f)
    summary['firmware'] = {k: fw.get(k) for k in (
        'board', 'arena_bytes', 'scratch_bytes', 'detect_bytes', 'input_bytes', 'weights_bytes',
        'flash_bytes', 'sram_bytes', 'stack_bytes', 'fits', 'instructions', 'instructions_per_mac', 'macs',
        'bitexact_vs_reference', 'detections_match_reference', 'schedule', 'memory')}
    summary['total_minutes'] = round((time.time() - start) / 60, 2)

    with open(osp.join(args.work_dir, 'summary.json.tmp'), 'w') as f:
        json.dump(summary, f, indent=2)
    os.replace(osp.join(args.work_dir, 'summary.json.tmp'), osp.join(args.work_dir, 'summary.json'))
    print('\n[demo] results')
    print(f"  mAP@0.5 (per-layer backbone)    {summary['mAP50']:.4f}")
    print(f"  mAP@0.5 (patch-based backbone)  {summary['mAP50_patch_based']:.4f}")
    print(f"  backbone SRAM, per-layer        {summary['per_layer_peak_bytes']:,} bytes (analytic, int8)")
    print(f"  backbone SRAM, patch-based      {summary['patch_peak_bytes']:,} bytes "
          f"(input patch {summary['input_patch_size']}, input frame not counted)")
    print(f"  backbone MACs per-layer / patch {summary['macs']:,} / {summary['patch_macs']:,}")
    print(f"  mAP@0.5 (int8, PTQ)             {summary['mAP50_int8_ptq']:.4f}")
    f = summary['firmware']
    grid = f['schedule']['grid']
    print(f"  firmware ({f['board']}, {grid[0]}x{grid[1]} patches): flash {f['flash_bytes']:,} B, "
          f"SRAM {f['sram_bytes']:,} B, stack {f['stack_bytes']:,} B, fits: {'yes' if f['fits'] else 'NO'}")
    exact = 'bit-exact' if f['bitexact_vs_reference'] else 'MISMATCH'
    print(f"  QEMU vs Python int8 reference   maps {exact}, "
          f"boxes {'identical' if f['detections_match_reference'] else 'DIFFER'}; "
          f"{f['instructions']:,} instructions ({f['instructions_per_mac']} per MAC)")
    print(f"  memory: {f['memory']}")
    print(f"  training {summary['train_minutes']} min, whole demo {summary['total_minutes']} min")
    print(f'  details: {args.work_dir}/summary.json, {log_path}')


if __name__ == '__main__':
    main()
