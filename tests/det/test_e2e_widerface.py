"""End to end on the procedural faces set in the official WIDER FACE layout.

Trains the MCUNetV2-S face detector briefly from the official txt annotations and
evaluates it with the official easy / medium / hard protocol (the .mat ground truth).
"""
import re

import pytest

from mcudet.datasets.synthetic_faces import generate_synthetic_wider
from tests.conftest import REPO, run_tool

CONFIG = str(REPO / 'configs/det/mcunetv2-s_tinyyolo_synthetic-wider.py')
pytestmark = pytest.mark.slow


def test_train_and_official_evaluation(tmp_path):
    root = tmp_path / 'wider'
    generate_synthetic_wider(str(root), num_train=120, num_val=32, seed=5)
    r = f'{root}/'
    opts = [f'data_root={r}', f'train_dataloader.dataset.data_root={r}',
            f'val_dataloader.dataset.data_root={r}', f'test_dataloader.dataset.data_root={r}',
            f'val_evaluator.gt_dir={r}ground_truth/',
            f'test_evaluator.gt_dir={r}ground_truth/', 'train_dataloader.batch_size=8',
            'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'train_cfg.max_epochs=12',
            'train_cfg.val_interval=100']
    run_tool(['python', 'tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'work'),
              '--cfg-options', *opts], timeout=1800)
    out = run_tool(['python', 'tools/test.py', CONFIG, str(tmp_path / 'work' / 'epoch_12.pth'),
                    '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    log = out.stdout + out.stderr
    aps = {k: float(v) for k, v in re.findall(r'widerface/(easy|medium|hard): ([0-9.]+)', log)}
    assert set(aps) == {'easy', 'medium', 'hard'}, log[-2000:]
    # Chance is ~0: an untrained head scores random boxes.
    assert aps['medium'] > 0.1, aps
