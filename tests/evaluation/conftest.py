"""Session-wide synthetic sets for the evaluation tests (see tests/datasets/helpers.py)."""
import pytest

from mcudet.utils import register_all_modules
from tests.datasets.helpers import SyntheticSet, make_voc, make_wider


@pytest.fixture(autouse=True, scope='session')
def _mcudet_scope() -> None:
    """Pipelines and registries resolve names in mcudet's scope, as in tools/train.py."""
    register_all_modules()


@pytest.fixture(scope='session')
def synthetic_voc(tmp_path_factory) -> SyntheticSet:
    return make_voc(tmp_path_factory)


@pytest.fixture(scope='session')
def synthetic_wider(tmp_path_factory) -> SyntheticSet:
    return make_wider(tmp_path_factory)
