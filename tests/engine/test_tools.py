"""tools/train.py, tools/test.py and tools/dist_train.sh drive real mmengine runs.

The resume test is the regression test for torch >= 2.6's ``weights_only`` default,
which breaks mmengine's resume and ``tools/test.py`` without ``mcudet.compat``.
"""
import re
import socket

import pytest
import torch

from tests.conftest import REPO, run_tool

CONFIG = str(REPO / 'tests/data/configs/toy_runner.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _iter_of(ckpt_path) -> int:
    return torch.load(ckpt_path, map_location='cpu', weights_only=False)['meta']['iter']


def test_train_resume_and_test(tmp_path):
    work = tmp_path / 'work'
    run_tool(['python', 'tools/train.py', CONFIG, '--work-dir', str(work),
              '--cfg-options', 'train_cfg.max_iters=2'])
    assert _iter_of(work / 'iter_2.pth') == 2
    assert not (work / 'iter_4.pth').exists()

    proc = run_tool(['python', 'tools/train.py', CONFIG, '--work-dir', str(work), '--resume', 'auto'])
    log = proc.stdout + proc.stderr
    assert 'Auto resumed from the latest checkpoint' in log
    assert re.search(r'resumed epoch: 0, iter: 2', log), log[-2000:]
    # It continued at iteration 3 rather than starting over.
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    assert _iter_of(work / 'iter_4.pth') == 4

    proc = run_tool(['python', 'tools/test.py', CONFIG, str(work / 'iter_4.pth'),
                     '--work-dir', str(tmp_path / 'test')])
    assert re.search(r'mse: \d', proc.stdout + proc.stderr)


def test_resume_from_explicit_path(tmp_path):
    work = tmp_path / 'work'
    run_tool(['python', 'tools/train.py', CONFIG, '--work-dir', str(work),
              '--cfg-options', 'train_cfg.max_iters=2'])
    proc = run_tool(['python', 'tools/train.py', CONFIG, '--work-dir', str(work),
                     '--resume', str(work / 'iter_2.pth')])
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr


def test_amp_on_cpu(tmp_path):
    proc = run_tool(['python', 'tools/train.py', CONFIG, '--work-dir', str(tmp_path), '--amp',
                     '--cfg-options', 'train_cfg.max_iters=2'])
    assert "type='CPUAmpOptimWrapper'" in proc.stdout + proc.stderr
    assert (tmp_path / 'iter_2.pth').exists()


def test_test_tool_rejects_missing_checkpoint(tmp_path):
    with pytest.raises(AssertionError, match='does not exist'):
        run_tool(['python', 'tools/test.py', CONFIG, str(tmp_path / 'nope.pth')])


@pytest.mark.slow
def test_dist_train_two_processes_gloo(tmp_path):
    import sys
    proc = run_tool(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path)],
                    env={'PYTHON': sys.executable, 'PORT': str(_free_port())})
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert 'terminate called' not in log
    assert _iter_of(tmp_path / 'iter_4.pth') == 4
