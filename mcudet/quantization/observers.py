"""Range observers for per-tensor activation quantization, and int8 quantization parameters.

An observer watches the float values of one activation tensor and keeps an estimate of
its range in buffers (``min_val``, ``max_val``, ``num_batches``), so the estimate is part
of every checkpoint and a QAT run resumes with it. All observers share those buffers:
a checkpoint calibrated with one loads into a model prepared with another.

* ``minmax``: the running minimum and maximum over every calibration batch (PTQ).
* ``percentile``: per batch the ``100 - p`` and ``p`` percentiles, averaged over batches
  (PTQ; clips rare outliers, which otherwise stretch the scale of a whole tensor).
* ``ema``: exponential moving average of the per-batch minimum and maximum (QAT; the
  first batch initialises it).
"""
from __future__ import annotations

import math

import torch
from torch import nn

QMIN, QMAX = -128, 127
WEIGHT_QMAX = 127  # weights are symmetric int8 in [-127, 127] (design/int8.md)
_MIN_RANGE = 1e-8


def round_half_away(x: float) -> int:
    """C ``round``: ties away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def choose_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) for the real range [lo, hi].

    The range is widened to contain 0 (so that zero, and with it ReLU's lower bound and
    the padding of every convolution, is exactly representable). The scale is rounded to
    float32, the precision of a ``.tflite`` scale. A ReLU output (lo = 0) gets zero
    point -128.
    """
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f'choose_qparams: range [{lo}, {hi}] is not finite')
    scale = float(torch.tensor(max(hi - lo, _MIN_RANGE) / (QMAX - QMIN), dtype=torch.float32))
    zp = QMIN - round_half_away(lo / scale)
    return scale, max(QMIN, min(QMAX, zp))


class Observer(nn.Module):
    """Base class: ``update(x)`` folds a batch into the range estimate, ``range()`` reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer('min_val', torch.tensor(0.0))
        self.register_buffer('max_val', torch.tensor(0.0))
        self.register_buffer('num_batches', torch.tensor(0, dtype=torch.long))

    @property
    def initialized(self) -> bool:
        return bool(self.num_batches > 0)

    def range(self) -> tuple[float, float]:
        return float(self.min_val), float(self.max_val)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        lo, hi = self._batch_range(x.detach().float())
        self._fold(lo, hi)
        self.num_batches += 1

    def _batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.min(), x.max()

    def _fold(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        raise NotImplementedError


class MinMaxObserver(Observer):
    """Running minimum and maximum over all batches."""

    def _fold(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        if not self.initialized:
            self.min_val.copy_(lo)
            self.max_val.copy_(hi)
        else:
            self.min_val.copy_(torch.minimum(self.min_val, lo))
            self.max_val.copy_(torch.maximum(self.max_val, hi))


class EMAMinMaxObserver(Observer):
    """Exponential moving average of the batch minimum and maximum.

    Args:
        momentum: Weight of the new batch (0.01: the range follows the weights of a QAT
            run slowly, as in the QAT literature).
    """

    def __init__(self, momentum: float = 0.01) -> None:
        super().__init__()
        if not 0 < momentum <= 1:
            raise ValueError(f'EMAMinMaxObserver: momentum={momentum}; use a value in (0, 1]')
        self.momentum = momentum

    def _fold(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        if not self.initialized:
            self.min_val.copy_(lo)
            self.max_val.copy_(hi)
        else:
            self.min_val.lerp_(lo, self.momentum)
            self.max_val.lerp_(hi, self.momentum)


class PercentileObserver(Observer):
    """Mean over batches of the ``100 - percentile`` and ``percentile`` percentiles.

    Args:
        percentile: Upper percentile in (50, 100]; 100 is the batch min/max.
        max_samples: Values per batch the percentile is computed from (a strided subsample
            of larger tensors, to keep calibration fast).
    """

    def __init__(self, percentile: float = 99.99, max_samples: int = 1 << 20) -> None:
        super().__init__()
        if not 50 < percentile <= 100:
            raise ValueError(f'PercentileObserver: percentile={percentile}; use a value in (50, 100]')
        self.percentile = percentile
        self.max_samples = max_samples

    def _batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(-1)
        if flat.numel() > self.max_samples:
            flat = flat[::-(-flat.numel() // self.max_samples)]
        n = flat.numel()
        k_hi = min(n, max(1, math.ceil(n * self.percentile / 100)))
        k_lo = max(1, n + 1 - k_hi)
        return flat.kthvalue(k_lo).values, flat.kthvalue(k_hi).values

    def _fold(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        n = self.num_batches.float()
        self.min_val.copy_((self.min_val * n + lo) / (n + 1))
        self.max_val.copy_((self.max_val * n + hi) / (n + 1))


OBSERVERS = {'minmax': MinMaxObserver, 'ema': EMAMinMaxObserver, 'percentile': PercentileObserver}


def build_observer(cfg: str | dict | None) -> Observer:
    """``'minmax'``, ``'ema'``, ``'percentile'`` or ``dict(type='percentile', percentile=99.9)``."""
    if cfg is None:
        cfg = 'minmax'
    cfg = dict(type=cfg) if isinstance(cfg, str) else dict(cfg)
    kind = cfg.pop('type', 'minmax')
    if kind not in OBSERVERS:
        raise ValueError(f'observer {kind!r} is unknown; use one of {sorted(OBSERVERS)} '
                         "(e.g. quantization.observer='percentile')")
    try:
        return OBSERVERS[kind](**cfg)
    except TypeError as e:
        raise ValueError(f'observer {kind!r}: {e}') from None
