"""Each shim in mcudet.compat fixes a real breakage of the pinned stack."""
import argparse
import subprocess
import sys

import pytest
import torch


def test_checkpoint_loader_accepts_runner_checkpoints(tmp_path):
    """A checkpoint holding non-tensor objects (as mmengine's do) loads through mmengine."""
    from mmengine.runner.checkpoint import CheckpointLoader

    import mcudet  # noqa: F401
    from mcudet import compat
    path = tmp_path / 'ckpt.pth'
    torch.save({'meta': {'cfg': argparse.Namespace(lr=0.1)}, 'state_dict': {}}, path)
    # Plain torch.load refuses it (the upstream behaviour the shim works around).
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)
    ckpt = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert 'meta' in ckpt
    assert 'mmengine.runner.checkpoint' in compat.applied()


def test_shims_apply_when_mmengine_is_imported_first():
    """Importing mmengine before mcudet still gets the shims."""
    code = ('import mmengine.runner.checkpoint as c, mmengine.dist.utils as d; import mcudet; '
            'from mcudet import compat; print(sorted(compat.applied()))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert 'mmengine.runner.checkpoint' in out.stdout and 'mmengine.dist.utils' in out.stdout


def test_ddp_wrapper_accepts_cpu_module(monkeypatch):
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel

    import mcudet  # noqa: F401
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', '29731')
    dist.init_process_group('gloo', rank=0, world_size=1)
    try:
        model = MMDistributedDataParallel(module=torch.nn.Linear(2, 2), device_ids=[0])
        assert model.device_ids is None
    finally:
        dist.destroy_process_group()
