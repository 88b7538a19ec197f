"""mcudet's registries resolve their own names and, through their parents, mmdet's."""
import subprocess
import sys

from mcudet.registry import DATASETS, MODELS, OPTIM_WRAPPERS, TRANSFORMS
from mcudet.utils import get_mim_path, register_all_modules


def test_mmdet_names_resolve_through_mcudet_registries():
    register_all_modules()
    assert MODELS.get('YOLOV3Head').__module__.startswith('mmdet.')
    assert DATASETS.get('VOCDataset').__module__.startswith('mmdet.')
    assert TRANSFORMS.get('PackDetInputs').__module__.startswith('mmdet.')


def test_mcudet_name_resolves_and_builds():
    register_all_modules()
    cls = OPTIM_WRAPPERS.get('CPUAmpOptimWrapper')
    assert cls is not None and cls.__module__ == 'mcudet.engine.optim_wrappers'
    assert OPTIM_WRAPPERS.scope == 'mcudet' and OPTIM_WRAPPERS.parent.scope == 'mmdet'


def test_registries_are_children_of_mmdet():
    for reg in (MODELS, DATASETS, TRANSFORMS):
        assert reg.scope == 'mcudet'
        assert reg.parent.scope == 'mmdet'


def test_mim_paths_exist():
    for name in ('configs', 'tools'):
        assert get_mim_path(name).endswith(name)


def test_import_mcudet_is_light():
    """Importing the package (and its torch-free layers) must not pull torch or mmengine."""
    code = 'import mcudet, sys; bad = [m for m in ("torch", "mmengine") if m in sys.modules]; print(bad)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]', out.stdout
