"""Shims for the pinned OpenMMLab stack (torch 2.13, mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0).

Each shim names the upstream bug it works around and when it can go. They are
installed lazily: importing :mod:`mcudet` does not import torch or mmengine (the
torch-free layers ``mcudet.arch`` and ``mcudet.patch`` stay light); a shim is applied
the moment its target module is first imported, or at once if it already is.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os.path as osp
import sys
from collections.abc import Callable

_PATCHES: dict[str, Callable[[object], None]] = {}
_APPLIED: set[str] = set()


def _patch_mmengine_checkpoint(module) -> None:
    """Let mmengine load the checkpoints it writes itself.

    Upstream: torch >= 2.6 made ``torch.load(weights_only=True)`` the default, and
    mmengine <= 0.10.7 calls ``torch.load(filename, map_location=...)`` in
    ``load_from_local``; its checkpoints hold ``message_hub``/config objects, so
    resume, ``load_from`` and ``tools/test.py`` fail with an ``UnpicklingError``
    (open-mmlab/mmengine issue #1622). Remove when mmengine passes ``weights_only``
    itself. ``weights_only=False`` unpickles arbitrary objects: it trusts the file,
    which is right for checkpoints you trained yourself and wrong for files from
    strangers.
    """
    import torch

    def load_from_local(filename, map_location):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        return torch.load(filename, map_location=map_location, weights_only=False)

    load_from_local.__doc__ = _patch_mmengine_checkpoint.__doc__
    module.CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    module.load_from_local = load_from_local


_PATCHES['mmengine.runner.checkpoint'] = _patch_mmengine_checkpoint


def _patch_mmengine_dist(module) -> None:
    """Let ``--launcher pytorch`` start on machines without CUDA (gloo on the CPU).

    Upstream: mmengine <= 0.10.7 ``_init_dist_pytorch`` calls
    ``torch.cuda.set_device(local_rank)`` unconditionally; the CPU build of torch
    2.13 has no ``torch._C._cuda_setDevice`` and raises ``AttributeError``. Remove
    when mmengine checks ``torch.cuda.is_available()`` first.
    """
    import torch
    original = module._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        import torch.distributed as torch_dist
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch.__doc__ = _patch_mmengine_dist.__doc__
    module._init_dist_pytorch = _init_dist_pytorch


_PATCHES['mmengine.dist.utils'] = _patch_mmengine_dist


def _patch_mmengine_ddp(module) -> None:
    """Let ``MMDistributedDataParallel`` wrap a model that lives on the CPU.

    Upstream: mmengine <= 0.10.7 ``Runner.wrap_model`` always passes
    ``device_ids=[LOCAL_RANK]``; torch's DDP rejects ``device_ids`` for CPU modules
    (``ValueError: DistributedDataParallel device_ids and output_device arguments
    only work with single-device/multiple-device GPU modules or CPU modules``).
    Drop them for CPU modules. Remove when mmengine stops passing them on the CPU.
    """
    cls = module.MMDistributedDataParallel
    original_init = cls.__init__

    def __init__(self, module, detect_anomalous_params: bool = False, **kwargs) -> None:
        params = list(module.parameters())
        if params and all(p.device.type == 'cpu' for p in params):
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        original_init(self, module=module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    __init__.__doc__ = _patch_mmengine_ddp.__doc__
    cls.__init__ = __init__


_PATCHES['mmengine.model.wrappers.distributed'] = _patch_mmengine_ddp


def _apply(name: str) -> None:
    if name in _APPLIED:
        return
    _APPLIED.add(name)
    _PATCHES[name](sys.modules[name])


class _PostImportLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        _apply(self._name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Applies a shim right after its target module finishes importing."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _PATCHES or fullname in _APPLIED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PostImportLoader(spec.loader, fullname)
                return spec
        return None


def install() -> None:
    """Apply every shim now or when its module is imported (idempotent)."""
    if not any(isinstance(f, _PostImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportFinder())
    for name in _PATCHES:
        if name in sys.modules:
            _apply(name)


def applied() -> frozenset[str]:
    """Names of the modules patched so far (for tests and bug reports)."""
    return frozenset(_APPLIED)


install()
