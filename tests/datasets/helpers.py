"""Test helpers: small synthetic sets (generated once per session) and loading a tool script."""
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mcudet.datasets import generate_synthetic_voc, generate_synthetic_wider
from tests.conftest import REPO

VOC_TRAINVAL, VOC_TEST, VOC_SIZE, VOC_SEED = 6, 2, 160, 3
WIDER_TRAIN, WIDER_VAL, WIDER_SIZE, WIDER_SEED = 4, 12, 192, 5  # seed 5: one val image has no face


@dataclass
class SyntheticSet:
    root: Path
    seed: int
    img_size: int


def make_voc(tmp_path_factory) -> SyntheticSet:
    root = tmp_path_factory.mktemp('synthetic_voc')
    generate_synthetic_voc(str(root), VOC_TRAINVAL, VOC_TEST, VOC_SIZE, seed=VOC_SEED)
    return SyntheticSet(root, VOC_SEED, VOC_SIZE)


def make_wider(tmp_path_factory) -> SyntheticSet:
    root = tmp_path_factory.mktemp('synthetic_wider')
    generate_synthetic_wider(str(root), WIDER_TRAIN, WIDER_VAL, WIDER_SIZE, seed=WIDER_SEED)
    return SyntheticSet(root, WIDER_SEED, WIDER_SIZE)


def load_tool(relpath: str):
    """Import a tool script as a module, to call its ``main(argv)`` in this process."""
    spec = importlib.util.spec_from_file_location(Path(relpath).stem, REPO / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
