"""Tabulate configs: input, MACs, params, analytic backbone SRAM per-layer and patch-based.

    python tools/analysis_tools/model_table.py configs/det/*_voc.py [--markdown]

MACs and params come from the built model (conv + linear MACs of backbone, neck and
head on one input). The SRAM columns are the analytic int8 peak of the backbone
(paper convention, input frame streamed) per layer and with the patch schedule the
backbone's zoo entry records (or the schedule search under 256 kB when it records none).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config

import mcudet  # noqa: F401
from mcudet.arch import load_spec
from mcudet.models.complexity import count_model_macs, count_model_params
from mcudet.patch.memory import memory_report
from mcudet.patch.plan import make_patch_plan
from mcudet.patch.search import search_schedule
from mcudet.utils import register_all_modules


def row(config_path: str) -> dict:
    cfg = Config.fromfile(config_path)
    from mcudet.registry import MODELS
    model = MODELS.build(cfg.model)
    h, w = cfg.get('input_size', (224, 224))
    backbone_cfg = cfg.model.backbone
    while backbone_cfg.get('type') == 'PatchBasedBackbone':
        backbone_cfg = backbone_cfg.backbone
    if backbone_cfg.get('type') != 'MCUNetV2Backbone':
        raise SystemExit(f'{config_path}: model.backbone.type={backbone_cfg.get("type")!r}; '
                         'the table needs an MCUNetV2Backbone (or a PatchBasedBackbone around one)')
    spec = load_spec(backbone_cfg.arch)
    sched = spec.extra.get('patch_schedule')
    if sched and tuple(sched.get('input_hw', (h, w))) == (h, w):
        plan = make_patch_plan(spec, (h, w), tuple(sched['grid']), sched['split'])
    else:
        plan = search_schedule(spec, (h, w), 256 * 1024).plan
    report = memory_report(spec, (h, w), plan)
    return dict(config=osp.basename(config_path), input=f'{h}x{w}', backbone=spec.name,
                macs=count_model_macs(model, (1, 3, h, w)), params=count_model_params(model),
                per_layer=report.per_layer_peak_bytes,
                patch=report.patch_peak_bytes if plan is not None else report.per_layer_peak_bytes,
                schedule=(f'split {plan.split}, {plan.grid[0]}x{plan.grid[1]}' if plan is not None
                          else 'per-layer'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+')
    args = parser.parse_args()
    register_all_modules()
    print('| config | input | backbone | MACs | params | backbone SRAM per-layer | '
          'backbone SRAM patch-based | schedule |')
    print('|---|---|---|---|---|---|---|---|')
    for path in args.configs:
        if not osp.isfile(path):
            sys.exit(f'model_table: {path} does not exist')
        r = row(path)
        print(f"| {r['config']} | {r['input']} | {r['backbone']} | {r['macs'] / 1e6:.1f}M | "
              f"{r['params'] / 1e6:.2f}M | {r['per_layer'] / 1024:.1f} kB | {r['patch'] / 1024:.1f} kB | "
              f"{r['schedule']} |")


if __name__ == '__main__':
    main()
