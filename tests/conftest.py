"""Shared test helpers: repository paths, the ../shared data folder, running the tools."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The ``shared`` folder beside the checkout (or $MCUDET_SHARED), if present."""
    path = Path(os.environ.get('MCUDET_SHARED', REPO.parent / 'shared'))
    return path if path.is_dir() else None


@pytest.fixture
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip('the shared data folder is absent (set MCUDET_SHARED=/path/to/shared)')
    return path


def run_tool(args: list[str], timeout: int = 600, env: dict | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command with the project's interpreter and the repo on PYTHONPATH; fail with its output."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = str(REPO) + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.setdefault('OMP_NUM_THREADS', '1')
    if env:
        full_env.update(env)
    cmd = [sys.executable if a == 'python' else a for a in args]
    proc = subprocess.run(cmd, cwd=cwd or REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, cmd))} exited {proc.returncode}\n'
                             f'--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}')
    return proc
