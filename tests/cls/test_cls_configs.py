"""Every config in configs/cls builds, runs at its resolution and follows its recipe."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mcudet.registry import MODELS
from tests.conftest import REPO

CONFIGS = sorted((REPO / 'configs' / 'cls').glob('*.py'))
IN1K = {'mcunet-in0': 48, 'mcunet-in1': 96, 'mcunet-in2': 160, 'mcunet-in3': 176, 'mcunet-in4': 160,
        'mbv2-w035-r144': 144, 'proxyless-w03-r176': 176, 'mcunetv2-m4': 224, 'mcunetv2-h7': 320}


def test_the_issue_configs_exist():
    names = {p.name for p in CONFIGS}
    assert {f'{n}_in1k.py' for n in IN1K} <= names
    assert {'mcunetv2-vww_vww.py', 'mcunetv2-vww_vww_patch.py', 'mcunetv2-m4_in1k_patch.py',
            'mcunetv2-h7_in1k_patch.py'} <= names


def find(pipeline: list, kind: str) -> dict:
    return next(t for t in pipeline if t['type'] == kind)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_runs_and_follows_the_recipe(path: Path):
    cfg = Config.fromfile(str(path))
    stem = path.stem.split('_')[0]
    r = cfg.resolution
    assert cfg.input_size == (r, r)
    if path.stem.endswith('_in1k') or path.stem.endswith('_in1k_patch'):
        assert r == IN1K[stem] and cfg.model.head.num_classes == 1000
        assert cfg.test_evaluator.topk == (1, 5) and cfg.optim_wrapper.optimizer.weight_decay == 4e-5
    else:
        assert cfg.model.head.num_classes == 2 and cfg.test_evaluator.topk == (1, )
        assert cfg.test_dataloader.dataset.type == 'VisualWakeWords'
    # The pipelines follow the resolution (a config that forgets to override them trains at 224).
    assert find(cfg.train_dataloader.dataset.pipeline, 'RandomResizedCrop')['scale'] == r
    assert find(cfg.test_dataloader.dataset.pipeline, 'CenterCrop')['crop_size'] == r
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'SGD' and opt.momentum == 0.9 and 4e-5 <= opt.weight_decay <= 5e-5
    assert cfg.param_scheduler[-1].type == 'CosineAnnealingLR'
    assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original',
                                       loss_weight=1.0)
    assert cfg.model.data_preprocessor.mean == [127.5] * 3 and cfg.model.data_preprocessor.to_rgb
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, r, r))
    assert logits.shape == (1, cfg.model.head.num_classes)


@pytest.mark.parametrize('name,budget_kb', [('mcunetv2-vww_vww_patch', 32), ('mcunetv2-m4_in1k_patch', 256),
                                            ('mcunetv2-h7_in1k_patch', 512)])
def test_patch_configs_fit_their_budget(name, budget_kb):
    cfg = Config.fromfile(str(REPO / 'configs' / 'cls' / f'{name}.py'))
    backbone = MODELS.build(cfg.model.backbone)
    report = backbone.memory_report_for(cfg.input_size)
    assert report.patch_peak_bytes is not None and report.patch_peak_bytes <= budget_kb * 1024
    assert report.patch_peak_bytes < report.per_layer_peak_bytes / 2.5
