"""Mixed precision on the CPU, where mmengine's AmpOptimWrapper refuses to run."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mcudet.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """bfloat16 autocast on the CPU.

    mmengine's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU (it scales losses with
    ``torch.cuda.amp.GradScaler``). bfloat16 has float32's exponent range, so no loss
    scaling is needed; this wrapper only enables ``torch.autocast('cpu')``.
    ``tools/train.py --amp`` picks it when no CUDA device is present.

    Args:
        dtype: Autocast dtype; only 'bfloat16' is supported on the CPU.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f"CPUAmpOptimWrapper: dtype={dtype!r}; only 'bfloat16' autocasts on the CPU")
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
