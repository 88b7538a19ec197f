"""Accuracy of float vs int8 (PTQ, QAT) models on the synthetic sets, with the integer graph as the judge.

Usage::

    python tools/benchmark/quantization.py [--tasks det cls] [--work-dir work_dirs/benchmark]
        [--det-checkpoint FLOAT.pth] [--cls-checkpoint FLOAT.pth] [--quick]

For each task (det: tiny YOLO on mbv2-w0.35, synthetic shapes, VOC mAP@0.5; cls: mcunetv2-vww,
synthetic person / no-person, top-1) the script generates the synthetic set, trains the float
model with its config (or loads ``--*-checkpoint``) and evaluates, with the standard configs
and the QuantizationHook:

* ``float``: the float checkpoint;
* ``PTQ minmax`` / ``PTQ percentile``: post-training quantization, ranges calibrated on
  ``--calib-batches`` training batches, no training;
* ``QAT``: quantization-aware fine-tuning (the ``*_qat.py`` config) from the float checkpoint.

int8 rows are evaluated with the integer kernels in PyTorch (the default ``integer_eval``).
For each of them the integer graph is lowered and the NumPy reference executor runs the first
``--ir-images`` test images: the script reports how many int8 output elements equal the PyTorch
model's, how many are within one step when PyTorch uses float fake quantization (the arithmetic
QAT trains with), and the metric computed from the reference executor's outputs.

Prints a table and writes ``<work-dir>/quantization.json``. Takes several minutes on a CPU.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import os.path as osp
import sys
import time
from typing import Any

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import mcudet  # noqa: E402,F401  (compat shims before mmengine loads checkpoints)

TASKS = {
    'det': dict(config='configs/det/mbv2-w035_tinyyolo_synthetic.py',
                qat='configs/det/mbv2-w035_tinyyolo_synthetic_qat.py',
                metric='pascal_voc/mAP', label='detection mAP@0.5', scale=100.0),
    'cls': dict(config='configs/cls/mcunetv2-vww_synthetic.py',
                qat='configs/cls/mcunetv2-vww_synthetic_qat.py',
                metric='accuracy/top1', label='classification top-1 (%)', scale=1.0),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='float vs PTQ vs QAT accuracy on the synthetic sets')
    p.add_argument('--tasks', nargs='+', choices=sorted(TASKS), default=['det', 'cls'])
    p.add_argument('--work-dir', default='work_dirs/benchmark')
    p.add_argument('--det-checkpoint', help='float detector checkpoint (skip its training)')
    p.add_argument('--cls-checkpoint', help='float classifier checkpoint (skip its training)')
    p.add_argument('--det-epochs', type=int, default=None, help='float training epochs (default: the config)')
    p.add_argument('--cls-epochs', type=int, default=None)
    p.add_argument('--qat-epochs', type=int, default=None, help='QAT epochs (default: the *_qat.py config)')
    p.add_argument('--calib-batches', type=int, default=16)
    p.add_argument('--ir-images', type=int, default=100,
                   help='test images run through the reference executor (default: all of the synthetic sets)')
    p.add_argument('--quick', action='store_true', help='tiny sets and few epochs: a smoke test, not numbers')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


# ---------------------------------------------------------------------- data and runners
def make_data(task: str, root: str, quick: bool, seed: int) -> str:
    """Generate the synthetic set once; returns the config's data_root."""
    from mcudet.datasets import generate_synthetic_cls, generate_synthetic_voc

    if task == 'det':
        if not osp.isdir(osp.join(root, 'VOCdevkit')):
            n = (48, 16) if quick else (200, 50)
            generate_synthetic_voc(root, num_trainval=n[0], num_test=n[1], seed=seed)
        return osp.join(root, 'VOCdevkit') + '/'
    if not osp.isdir(osp.join(root, 'images')):
        n = (64, 32) if quick else (400, 100)
        generate_synthetic_cls(root, num_train=n[0], num_val=n[1], seed=seed)
    return root


def data_options(root: str) -> dict[str, Any]:
    opts: dict[str, Any] = {'data_root': root}
    for split in ('train', 'val', 'test'):
        opts[f'{split}_dataloader.dataset.data_root'] = root
        opts[f'{split}_dataloader.num_workers'] = 0
        opts[f'{split}_dataloader.persistent_workers'] = False
    return opts


def make_runner(config: str, work_dir: str, options: dict[str, Any], name: str):
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{name}_{time.strftime("%Y%m%d_%H%M%S")}'
    if 'visualizer' in cfg:
        cfg.visualizer.name = f'visualizer_{name}'
    cfg.log_level = 'WARNING'
    return Runner.from_cfg(cfg)


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


# ---------------------------------------------------------------------- the integer graph as judge
def ir_check(runner, task: str, num_images: int) -> dict[str, Any]:
    """Lower the runner's int8 model, run the reference executor on test images, compare and score."""
    from mcudet.deploy import run
    from mcudet.quantization import input_quant_of, lower_to_ir, quantized_outputs, set_integer_eval
    from mcudet.quantization.agreement import layerwise_agreement

    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    model.eval()
    loader = runner.test_dataloader
    evaluators = {k: runner.build_evaluator(copy.deepcopy(runner.cfg.test_evaluator))
                  for k in ('torch', 'ir', 'float_fq')}
    for ev in evaluators.values():
        ev.dataset_meta = loader.dataset.metainfo
    s, zp = input_quant_of(model).qparams()
    graph, done, t0 = None, 0, time.time()
    exact = within = total = 0
    with torch.no_grad():
        for data in loader:
            data = model.data_preprocessor(data, False)
            x, samples = data['inputs'], data['data_samples']
            keep = min(len(samples), num_images - done)
            if keep <= 0:
                break
            x, samples = x[:keep], samples[:keep]
            q = (torch.round(x / s) + zp).long()
            if graph is None:
                graph = lower_to_ir(model, tuple(x.shape[-2:]))
                layerwise = layerwise_agreement(model, q)
            pt = quantized_outputs(model, q)
            set_integer_eval(model, False)
            pt_float = quantized_outputs(model, q)
            set_integer_eval(model, True)
            ir = [run(graph, [q[i:i + 1].permute(0, 2, 3, 1).numpy().astype(np.int8)]) for i in range(keep)]
            ir = [np.concatenate([r[k] for r in ir]) for k in range(len(graph.outputs))]
            for a, b, c in zip(ir, pt, pt_float):
                exact += int((a == b).sum())
                within += int((np.abs(a.astype(int) - c.astype(int)) <= 1).sum())
                total += a.size
            for key, maps in (('torch', pt), ('ir', ir), ('float_fq', pt_float)):
                evaluators[key].process(data_samples=_predictions(model, task, graph, maps, samples),
                                        data_batch=data)
            done += keep
    metrics = {k: ev.evaluate(done) for k, ev in evaluators.items()}
    return dict(images=done, ops=len(graph.ops), exact=exact / total, float_within_1=within / total,
                float_layerwise_within_1=layerwise.within_one, float_layerwise_exact=layerwise.exact,
                torch=metrics['torch'], ir=metrics['ir'], float_fq=metrics['float_fq'],
                seconds=time.time() - t0)


def _predictions(model, task: str, graph, maps: list[np.ndarray], samples) -> list:
    """Data samples with predictions from int8 output maps (dequantized as the MCU would)."""
    samples = copy.deepcopy(samples)
    outs = []
    for name, m in zip(graph.outputs, maps):
        t = graph.tensor(name)
        scale = torch.tensor(t.scale, dtype=torch.float32)
        v = (torch.from_numpy(m.astype(np.float32)) - t.zero_point) * scale
        outs.append(v.permute(0, 3, 1, 2) if v.dim() == 4 else v)
    if task == 'det':
        results = model.bbox_head.predict_by_feat(outs, [s.metainfo for s in samples], rescale=True)
        return model.add_pred_to_datasample(samples, results)
    return model.head._get_predictions(outs[0], samples)


# ---------------------------------------------------------------------- one task
def run_task(task: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = TASKS[task]
    wd = osp.join(args.work_dir, 'quantization', task)
    root = make_data(task, osp.join(args.work_dir, 'data', task), args.quick, args.seed)
    opts = data_options(root)
    opts['randomness.seed'] = args.seed
    rows: dict[str, dict[str, Any]] = {}

    ckpt = getattr(args, f'{task}_checkpoint')
    epochs = getattr(args, f'{task}_epochs') or (3 if args.quick else None)
    t0 = time.time()
    if ckpt is None:
        float_opts = dict(opts)
        if epochs is not None:
            float_opts.update(_epoch_options(task, epochs, qat=False))
        runner = make_runner(spec['config'], osp.join(wd, 'float'), float_opts, f'{task}_float')
        runner.train()
        ckpt = last_checkpoint(runner.work_dir)
    else:
        runner = make_runner(spec['config'], osp.join(wd, 'float'), {**opts, 'load_from': ckpt},
                             f'{task}_float')
    rows['float'] = dict(metrics=runner.test(), seconds=time.time() - t0, checkpoint=ckpt)
    print(f'[{task}] float: {rows["float"]["metrics"]}', flush=True)

    calib = {'quantization.calib_batches': 2 if args.quick else args.calib_batches, 'load_from': ckpt}
    observers = {'PTQ minmax': 'minmax', 'PTQ percentile': dict(type='percentile', percentile=99.99)}
    for row, observer in observers.items():
        t0 = time.time()
        ptq = {**opts, **calib, 'quantization.mode': 'ptq', 'quantization.observer': observer,
               'quantization.progress': False}
        runner = make_runner(spec['qat'], osp.join(wd, row.replace(' ', '_').lower()), ptq,
                             f'{task}_{row.split()[-1]}')
        rows[row] = dict(metrics=runner.test())
        rows[row]['ir'] = ir_check(runner, task, args.ir_images)
        rows[row]['seconds'] = time.time() - t0
        print(f'[{task}] {row}: {rows[row]["metrics"]} ir {rows[row]["ir"]}', flush=True)

    t0 = time.time()
    qat = {**opts, **calib, 'quantization.progress': False}
    qat_epochs = args.qat_epochs or (1 if args.quick else None)
    if qat_epochs is not None:
        qat.update(_epoch_options(task, qat_epochs, qat=True))
    runner = make_runner(spec['qat'], osp.join(wd, 'qat'), qat, f'{task}_qat')
    runner.train()
    rows['QAT'] = dict(metrics=runner.test(), checkpoint=last_checkpoint(runner.work_dir))
    rows['QAT']['ir'] = ir_check(runner, task, args.ir_images)
    rows['QAT']['seconds'] = time.time() - t0
    print(f'[{task}] QAT: {rows["QAT"]["metrics"]} ir {rows["QAT"]["ir"]}', flush=True)
    return dict(label=spec['label'], metric=spec['metric'], scale=spec['scale'], rows=rows)


def _epoch_options(task: str, epochs: int, qat: bool) -> dict[str, Any]:
    opts: dict[str, Any] = {'train_cfg.max_epochs': epochs, 'train_cfg.val_interval': epochs + 1}
    if qat:
        opts.update({'param_scheduler': [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=epochs,
                                              convert_to_iter_based=True)],
                     'quantization.freeze_bn_epoch': max(0, epochs - max(1, epochs // 3)),
                     'quantization.freeze_observer_epoch': max(0, epochs - 1)})
    elif task == 'det':
        opts['param_scheduler'] = [
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
            dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=epochs, eta_min=0.0002)]
    else:
        opts['param_scheduler'] = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=epochs,
                                        convert_to_iter_based=True)]
    return opts


# ---------------------------------------------------------------------- report
def format_table(results: dict[str, Any]) -> str:
    lines = []
    for res in results.values():
        scale = res['scale']
        lines.append(f'\n{res["label"]}')
        lines.append(f'{"model":16s} {"PyTorch":>8s} {"IR ref":>8s} {"IR imgs":>8s} {"IR == torch":>12s} '
                     f'{"FQ/layer <=1":>13s} {"float-FQ <=1":>13s} {"float-FQ":>9s}')
        for row, r in res['rows'].items():
            m = r['metrics'].get(res['metric'], float('nan')) * scale
            ir = r.get('ir')
            if ir is None:
                lines.append(f'{row:16s} {m:8.2f}')
                continue
            mi = ir['ir'].get(res['metric'], float('nan')) * scale
            mf = ir['float_fq'].get(res['metric'], float('nan')) * scale
            lines.append(f'{row:16s} {m:8.2f} {mi:8.2f} {ir["images"]:8d} {ir["exact"]:12.4%} '
                         f'{ir["float_layerwise_within_1"]:13.4%} {ir["float_within_1"]:13.4%} {mf:9.2f}')
    lines.append('\nPyTorch: full test set (int8 rows: integer kernels in PyTorch). IR ref: the NumPy '
                 'reference executor on the first "IR imgs" test images. IR == torch: int8 output elements '
                 'identical. FQ/layer <=1: every quantized layer run on the integer path\'s inputs with '
                 'float fake quantization (the arithmetic QAT trains with), output elements within one '
                 'step of the integer kernels\'. float-FQ <=1: the same for the final outputs of a whole '
                 'float fake-quant forward pass, where one-step differences propagate and grow. float-FQ: '
                 'the metric on those images with it.')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', str(os.cpu_count() or 1))
    from mcudet.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    torch.manual_seed(args.seed)
    results = {task: run_task(task, args) for task in args.tasks}
    table = format_table(results)
    print(table)
    out = osp.join(args.work_dir, 'quantization.json')
    os.makedirs(args.work_dir, exist_ok=True)
    with open(out, 'w') as f:
        json.dump(dict(args=vars(args), results=results, table=table), f, indent=2, default=str)
    print(f'\nwrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
