"""End to end on the procedural person / no-person set: train, evaluate, evaluate patch by patch.

The real tools run (mmengine runner, ImageClassifier, VisualWakeWords, Accuracy) on 400 training
and 100 validation images at 80x80; chance level is 50 % top-1.
"""
import pickle
import re

import pytest
import torch

from mcudet.datasets import generate_synthetic_cls
from tests.conftest import REPO, run_tool

CONFIG = str(REPO / 'configs/cls/mcunetv2-vww_synthetic.py')
PATCH_CONFIG = str(REPO / 'configs/cls/mcunetv2-vww_synthetic_patch.py')
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def vww_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('synthetic_vww')
    generate_synthetic_cls(str(root), num_train=400, num_val=100, img_size=80, seed=0)
    return str(root)


def data_opts(root: str) -> list[str]:
    return [f'data_root={root}'] + [f'{s}_dataloader.dataset.data_root={root}'
                                    for s in ('train', 'val', 'test')]


def top1(output: str) -> float:
    found = re.findall(r'accuracy/top1: ([0-9.]+)', output)
    assert found, output[-3000:]
    return float(found[-1])


@pytest.fixture(scope='module')
def trained(vww_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('train_cls')
    run_tool(['python', 'tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options',
              'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'train_cfg.val_interval=100',
              *data_opts(vww_root)], timeout=600)
    return work / 'epoch_12.pth'


def evaluate(config: str, ckpt, root: str, work, out) -> float:
    proc = run_tool(['python', 'tools/test.py', config, str(ckpt), '--work-dir', str(work), '--out', str(out),
                     '--cfg-options', 'test_dataloader.num_workers=0', *data_opts(root)])
    return top1(proc.stdout + proc.stderr)


def test_trained_classifier_is_well_above_chance_and_patches_change_nothing(trained, vww_root, tmp_path):
    acc = evaluate(CONFIG, trained, vww_root, tmp_path / 'a', tmp_path / 'layer.pkl')
    assert acc > 80.0, f'top-1 {acc} % after 12 epochs (300 iterations) on 400 images; chance is 50 %'
    acc_patch = evaluate(PATCH_CONFIG, trained, vww_root, tmp_path / 'b', tmp_path / 'patch.pkl')
    assert acc_patch == acc
    print(f'synthetic VWW top-1: {acc} % per layer, {acc_patch} % patch-based')
    with open(tmp_path / 'layer.pkl', 'rb') as f:
        layer = pickle.load(f)
    with open(tmp_path / 'patch.pkl', 'rb') as f:
        patch = pickle.load(f)
    assert len(layer) == len(patch) == 100
    for a, b in zip(layer, patch):
        assert a['img_path'] == b['img_path'] and torch.equal(a['pred_label'], b['pred_label'])
        assert (a['pred_score'] - b['pred_score']).abs().max() < 1e-5
