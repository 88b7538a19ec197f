"""The tools destroy the process group they leave behind (gloo aborts at exit otherwise)."""
import pytest
import torch.distributed as dist

from mcudet.utils import process_group_teardown


def _init_single_process_group(tmp_path):
    store = dist.FileStore(str(tmp_path / 'store'), 1)
    dist.init_process_group('gloo', store=store, rank=0, world_size=1)


def test_teardown_destroys_the_group(tmp_path):
    with process_group_teardown():
        _init_single_process_group(tmp_path)
        assert dist.is_initialized()
    assert not dist.is_initialized()


def test_teardown_runs_when_the_job_raises(tmp_path):
    with pytest.raises(RuntimeError, match='boom'), process_group_teardown():
        _init_single_process_group(tmp_path)
        raise RuntimeError('boom')
    assert not dist.is_initialized()


def test_teardown_without_a_group_is_a_no_op():
    with process_group_teardown():
        pass
    assert not dist.is_initialized()
