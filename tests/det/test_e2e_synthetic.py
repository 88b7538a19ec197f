"""End to end on the synthetic shapes set: train, resume, evaluate, distributed.

These run the real tools (mmengine runner, mmdet's YOLOV3, VOCMetric) on a small
generated set. Chance level for mAP@0.5 on four classes is near zero.
"""
import re
import socket
import sys

import pytest

from mcudet.datasets.synthetic import generate_synthetic_voc
from tests.conftest import REPO, run_tool

CONFIG = str(REPO / 'configs/det/mbv2-w035_tinyyolo_synthetic.py')
PATCH_CONFIG = str(REPO / 'configs/det/mbv2-w035_tinyyolo_synthetic_patch.py')
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    out = tmp_path_factory.mktemp('synvoc')
    generate_synthetic_voc(str(out), num_trainval=160, num_test=48, seed=3)
    return str(out / 'VOCdevkit') + '/'


def data_opts(root: str) -> list[str]:
    return [f'data_root={root}'] + [f'{s}_dataloader.dataset.data_root={root}'
                                    for s in ('train', 'val', 'test')]


def _map(output: str) -> float:
    found = re.findall(r'pascal_voc/mAP: ([0-9.]+)', output)
    assert found, output[-3000:]
    return float(found[-1])


@pytest.fixture(scope='module')
def trained(voc_root, tmp_path_factory):
    """Train 4 epochs, stop, resume to 12 (the interrupted-run path), return the work dir and logs."""
    work = tmp_path_factory.mktemp('train')
    common = ['--work-dir', str(work), '--cfg-options', 'train_cfg.val_interval=100',
              'train_dataloader.batch_size=8',
              'default_hooks.checkpoint.interval=4', 'default_hooks.checkpoint.max_keep_ckpts=5',
              'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', *data_opts(voc_root)]
    first = run_tool(['python', 'tools/train.py', CONFIG, *common, 'train_cfg.max_epochs=4'], timeout=900)
    second = run_tool(['python', 'tools/train.py', CONFIG, '--resume', 'auto', *common,
                       'train_cfg.max_epochs=12'], timeout=1800)
    return work, first.stdout + first.stderr, second.stdout + second.stderr


def test_resume_continues_the_run(trained):
    work, first, second = trained
    assert (work / 'epoch_4.pth').exists()
    assert 'resumed epoch: 4' in second, second[-3000:]
    assert 'Epoch(train)  [5]' in second and 'Epoch(train)  [1]' not in second
    assert (work / 'epoch_12.pth').exists()


def _test(config, ckpt, work_dir, voc_root, *extra):
    out = run_tool(['python', 'tools/test.py', config, str(ckpt), '--work-dir', str(work_dir), *extra,
                    '--cfg-options', 'test_dataloader.num_workers=0', *data_opts(voc_root)])
    return _map(out.stdout + out.stderr)


def test_trained_detector_is_well_above_chance(trained, voc_root, tmp_path):
    work, _, _ = trained
    m = _test(CONFIG, work / 'epoch_12.pth', tmp_path, voc_root, '--show-dir', 'shown')
    assert m > 0.25, f'mAP@0.5 {m} after 12 epochs (240 iterations) on 160 images'
    shown = list(tmp_path.rglob('shown/*.jpg'))
    assert len(shown) == 48, 'tools/test.py --show-dir writes one drawn image per test image'


def test_patch_based_backbone_gives_the_same_predictions(trained, voc_root, tmp_path):
    """The per-layer checkpoint evaluated with PatchBasedBackbone: same boxes, same mAP."""
    import pickle

    import numpy as np
    work, _, _ = trained
    ckpt = work / 'epoch_12.pth'
    m_layer = _test(CONFIG, ckpt, tmp_path / 'a', voc_root, '--out', str(tmp_path / 'layer.pkl'))
    m_patch = _test(PATCH_CONFIG, ckpt, tmp_path / 'b', voc_root, '--out', str(tmp_path / 'patch.pkl'))
    assert m_patch == m_layer
    with open(tmp_path / 'layer.pkl', 'rb') as f:
        layer = pickle.load(f)
    with open(tmp_path / 'patch.pkl', 'rb') as f:
        patch = pickle.load(f)
    assert len(layer) == len(patch) == 48
    for a, b in zip(layer, patch):
        pa, pb = a['pred_instances'], b['pred_instances']
        assert np.array_equal(pa['labels'].numpy(), pb['labels'].numpy())
        np.testing.assert_allclose(pa['bboxes'].numpy(), pb['bboxes'].numpy(), atol=1e-3)
        np.testing.assert_allclose(pa['scores'].numpy(), pb['scores'].numpy(), atol=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_distributed_two_process_gloo(voc_root, tmp_path):
    proc = run_tool(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path),
                     '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                     'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
                     'train_dataloader.batch_size=8', *data_opts(voc_root)],
                    env={'PYTHON': sys.executable, 'PORT': str(_free_port())}, timeout=900)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert (tmp_path / 'epoch_1.pth').exists()
    # The 2 ranks evaluate the 48 test images together and report one mAP.
    _map(log)
