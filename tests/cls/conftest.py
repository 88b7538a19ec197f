"""Fixtures of the classification tests: mcudet's scope and a tiny person / no-person set."""
from pathlib import Path

import pytest

from mcudet.datasets import generate_synthetic_cls
from mcudet.utils import register_all_modules


@pytest.fixture(autouse=True, scope='session')
def _mcudet_scope() -> None:
    """Pipelines and registries resolve names in mcudet's scope, as in tools/train.py."""
    register_all_modules()


@pytest.fixture(scope='session')
def tiny_vww(tmp_path_factory) -> Path:
    """8 training and 4 validation images (48x48) in the Visual Wake Words layout."""
    root = tmp_path_factory.mktemp('tiny_vww')
    generate_synthetic_cls(str(root), num_train=8, num_val=4, img_size=48, seed=1)
    return root
