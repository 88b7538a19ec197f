"""The install step is idempotent: a second run changes nothing and returns quickly."""
import hashlib
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _freeze() -> str:
    return subprocess.run([sys.executable, '-m', 'pip', 'freeze', '--all'], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.skipif(not (REPO / '.venv' / '.mcudet-install-stamp').exists(),
                    reason='runs only in a tree set up by tools/install.sh')
def test_second_install_changes_nothing():
    # `make test` has just installed; a direct pytest run after editing requirements may not have.
    first = subprocess.run(['bash', str(REPO / 'tools/install.sh')], capture_output=True, text=True,
                           timeout=3600)
    assert first.returncode == 0, first.stdout + first.stderr
    stamp = REPO / '.venv' / '.mcudet-install-stamp'
    before_stamp = hashlib.sha256(stamp.read_bytes()).hexdigest()
    before = _freeze()
    proc = subprocess.run(['bash', str(REPO / 'tools/install.sh')], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'up to date' in proc.stdout, proc.stdout
    assert 'pip:' not in proc.stdout and 'apt:' not in proc.stdout
    assert _freeze() == before
    assert hashlib.sha256(stamp.read_bytes()).hexdigest() == before_stamp
