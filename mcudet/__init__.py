"""mcudet: tiny detectors for microcontrollers on OpenMMLab."""
from . import compat  # noqa: F401  (patches the pinned stack before anything loads a checkpoint)
from .version import __version__

__all__ = ['__version__']
