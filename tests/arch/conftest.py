"""Fixtures of the arch tests: where the shared reference files are.

The shared folder (MCUNet zoo JSON files, ...) is not part of the repository. It is found via the
environment variable ``MCUDET_SHARED``, else the ``shared`` folder beside the repository root.
Tests that need it are skipped, with the path that was tried, when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """The shared reference folder (may not exist)."""
    return Path(os.environ.get('MCUDET_SHARED', REPO_ROOT.parent / 'shared')).resolve()


@pytest.fixture(scope='session')
def mcunet_zoo_dir() -> Path:
    """``<shared>/reference/mcunet_zoo``; skips the test when it is absent."""
    path = shared_dir() / 'reference' / 'mcunet_zoo'
    if not path.is_dir():
        pytest.skip(f'MCUNet zoo JSON files not found at {path}; set MCUDET_SHARED to the shared folder')
    return path
