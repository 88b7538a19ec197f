"""Distributed helpers for the tools."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def process_group_teardown() -> Iterator[None]:
    """Destroy the default process group when the wrapped run ends, even on an error.

    mmengine's Runner initialises the process group and never destroys it. With gloo, a
    process that exits with the group alive can abort in interpreter finalisation
    ("terminate called without an active exception", SIGABRT): the backend's worker threads
    still hold tensors whose release needs the GIL (pytorch/pytorch#190489, abandoned fix
    pytorch/pytorch#179291). Destroying the group while the interpreter is alive avoids it.
    Remove when torch's init_process_group registers its own atexit teardown.
    """
    try:
        yield
    finally:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
