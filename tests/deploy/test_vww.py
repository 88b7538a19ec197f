"""The real int8 MCUNet visual-wake-words model (../shared/reference/tflite/vww.tflite).

Read into our IR, our reference executor gives TFLite Micro's result bit for bit, in
every intermediate tensor; it classifies the two reference crops correctly; writing the
IR back gives a model TFLite Micro runs identically; TFLite Micro's arena matches
design/figures.md (224,976 bytes, 161,472 of them the activation plan).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcudet.deploy.reference import run

from .conftest import needs_tflm

FIGURES_ARENA_TOTAL = 224_976
FIGURES_ARENA_HEAD = 161_472


def load_crop(path: Path) -> np.ndarray:
    """An 80x80 PNG as the model's float input: RGB, x / 127.5 - 1, NHWC (figures.md)."""
    cv2 = pytest.importorskip('cv2')
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None and bgr.shape == (80, 80, 3), f'{path}: cannot read an 80x80 colour image'
    rgb = bgr[:, :, ::-1].astype(np.float32)
    return (rgb / np.float32(127.5) - np.float32(1.0))[None]


@pytest.fixture
def vww_graph(vww_path: Path):
    from mcudet.deploy.tflite_reader import read_tflite

    return read_tflite(vww_path)


@needs_tflm
def test_vww_reads_into_the_ir(vww_graph) -> None:
    kinds = [op.kind for op in vww_graph.ops]
    assert len(kinds) == 63
    assert kinds[0] == 'quantize' and kinds[-1] == 'dequantize'
    assert kinds.count('pad') == 4 and kinds.count('add') == 8 and kinds.count('mean') == 2
    assert {'conv2d', 'depthwise_conv2d', 'transpose', 'fully_connected'} <= set(kinds)
    assert vww_graph.tensor(vww_graph.inputs[0]).shape == (1, 80, 80, 3)


@needs_tflm
@pytest.mark.parametrize('image, label', [('person_crop.png', 1), ('no_person_crop.png', 0)])
def test_vww_every_tensor_matches_tflite_micro_and_classifies(vww_path: Path, vww_graph, images: Path,
                                                              image: str, label: int) -> None:
    from mcudet.deploy.tflm import run_tflm, tflm_tensors

    model = vww_path.read_bytes()
    x = load_crop(images / image)
    ours = run(vww_graph, [x], return_all=True)
    theirs = tflm_tensors(model, [x])
    index = vww_graph.metadata['tflite_tensor_index']
    compared = 0
    for op in vww_graph.ops:
        name = op.outputs[0]
        a, b = ours[name], theirs[index[name]]
        assert a.dtype == b.dtype and np.array_equal(a, b.reshape(a.shape)), \
            f'{op.label()}: output {name!r} differs from TFLite Micro in {np.count_nonzero(a != b)} elements'
        compared += 1
    assert compared == 63
    logits_int8 = ours[vww_graph.ops[-1].inputs[0]]
    assert logits_int8.dtype == np.int8
    out = ours[vww_graph.outputs[0]]
    assert np.array_equal(out, run_tflm(model, [x])[0])
    assert int(np.argmax(out)) == label == int(np.argmax(logits_int8))


@needs_tflm
def test_vww_round_trip_through_our_writer(vww_path: Path, vww_graph, images: Path) -> None:
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.tflm import run_tflm

    written = write_tflite(vww_graph)
    again = read_tflite(written)
    assert [op.kind for op in again.ops] == [op.kind for op in vww_graph.ops]
    assert [op.attrs for op in again.ops] == [op.attrs for op in vww_graph.ops]
    for a, b in zip(vww_graph.ops, again.ops):
        for ta, tb in zip(a.inputs[1:], b.inputs[1:]):
            assert np.array_equal(vww_graph.tensor(ta).data, again.tensor(tb).data), a.label()
    original = vww_path.read_bytes()
    for image in ('person_crop.png', 'no_person_crop.png'):
        x = load_crop(images / image)
        assert np.array_equal(run_tflm(written, [x])[0], run_tflm(original, [x])[0])
        assert np.array_equal(run(again, [x])[0], run(vww_graph, [x])[0])


@needs_tflm
def test_vww_tflite_micro_arena_matches_figures(vww_path: Path) -> None:
    from mcudet.deploy.tflm import tflm_arena

    usage = tflm_arena(vww_path.read_bytes())
    assert (usage.total, usage.head) == (FIGURES_ARENA_TOTAL, FIGURES_ARENA_HEAD), usage.report
