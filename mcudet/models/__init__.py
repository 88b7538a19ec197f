"""Models: backbones built from ArchSpec, the patch-based wrapper, necks and heads.

Importing this package registers every model in :data:`mcudet.registry.MODELS`
(the registry's ``locations=['mcudet.models']`` imports it on first use).
"""
from .backbones import *  # noqa: F401,F403
from .dense_heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403

# isort: split
from .classifiers import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
