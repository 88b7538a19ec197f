"""Run a ``.tflite`` in TFLite Micro from Python (the ``tflite-micro`` wheel) and measure its arena.

TFLite Micro is the outside referee: our reference executor must give its outputs bit
for bit. Its arena use is printed only by ``print_allocations()`` on file descriptor 2,
so :func:`tflm_arena` captures fd 2 and parses the numbers.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

DEFAULT_ARENA = 4 << 20


def _runtime() -> Any:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('running TFLite Micro needs the tflite-micro wheel: '
                          'pip install --pre tflite-micro') from e
    return runtime


def interpreter(model: bytes, arena_size: Optional[int] = None, preserve_all_tensors: bool = False) -> Any:
    """A TFLite Micro interpreter for ``model`` (4 MiB arena unless given)."""
    rt = _runtime()
    config = (rt.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors
              else rt.InterpreterConfig.kAllocationRecording)
    return rt.Interpreter.from_bytes(bytes(model), arena_size=arena_size or DEFAULT_ARENA,
                                     intrepreter_config=config)


def run_tflm(model: bytes, inputs: Sequence[np.ndarray],
             arena_size: Optional[int] = None) -> list[np.ndarray]:
    """Invoke ``model`` once on ``inputs`` (in the model's input order); returns its outputs."""
    it = interpreter(model, arena_size)
    for i, x in enumerate(inputs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    return [np.array(it.get_output(i)) for i in range(_io_counts(model)[1])]


def _io_counts(model: bytes) -> tuple[int, int]:
    """Number of inputs and outputs of subgraph 0 (the runtime has no query for them)."""
    from .tflite_schema import schema

    sub = schema().Model.GetRootAsModel(model, 0).Subgraphs(0)
    return sub.InputsLength(), sub.OutputsLength()


def tflm_tensors(model: bytes, inputs: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
    """Every tensor of subgraph 0 after one invoke, by flatbuffer tensor index (for debugging)."""
    from .tflite_schema import schema

    s = schema()
    n = len(s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0)).subgraphs[0].tensors)
    it = interpreter(model, preserve_all_tensors=True)
    for i, x in enumerate(inputs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    return {i: np.array(it.GetTensor(i, 0)['tensor_data']) for i in range(n)}


@dataclass(frozen=True)
class ArenaUsage:
    """TFLite Micro's RecordingMicroAllocator report, bytes."""

    total: int
    head: int  # the activation plan (non-persistent)
    tail: int  # persistent: tensor structs, op data, quantization arrays
    report: str


_ARENA_RE = re.compile(r'Arena allocation (total|head|tail) (\d+) bytes')


def parse_allocations(text: str) -> ArenaUsage:
    """Parse ``print_allocations()`` output."""
    found = {k: int(v) for k, v in _ARENA_RE.findall(text)}
    missing = {'total', 'head', 'tail'} - set(found)
    if missing:
        raise ValueError(f'no "Arena allocation {sorted(missing)[0]}" line in TFLite Micro output:\n{text}')
    return ArenaUsage(found['total'], found['head'], found['tail'], text)


def tflm_arena(model: bytes, inputs: Optional[Sequence[np.ndarray]] = None,
               arena_size: Optional[int] = None) -> ArenaUsage:
    """Arena used by TFLite Micro for ``model`` after one invoke (zeros as input if none given)."""
    it = interpreter(model, arena_size)
    if inputs is None:
        details = [it.get_input_details(i) for i in range(_io_counts(model)[0])]
        inputs = [np.zeros(tuple(d['shape']), dtype=d['dtype']) for d in details]
    for i, x in enumerate(inputs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode='w+b') as f:
        os.dup2(f.fileno(), 2)
        try:
            it.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors='replace')
    return parse_allocations(text)
