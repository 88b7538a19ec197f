"""Training-loop pieces mcudet adds to mmengine (optimizer wrappers, hooks)."""
from .optim_wrappers import CPUAmpOptimWrapper

__all__ = ['CPUAmpOptimWrapper']
