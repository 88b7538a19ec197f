"""Exact rewrites: folding PAD ops into convolutions changes no int8 value."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mcudet.deploy.patch_exec import plan_from_graph, run_patched, split_points
from mcudet.deploy.reference import run
from mcudet.deploy.transforms import fold_pads

from .conftest import needs_tflm
from .test_patch_exec import random_chain


@needs_tflm
def test_fold_pads_on_vww(vww_path: Path, images: Path) -> None:
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.tflm import run_tflm

    from .test_vww import load_crop

    graph = read_tflite(vww_path)
    folded = fold_pads(graph)
    assert len(folded.ops) == len(graph.ops) - 4 and 'pad' not in {op.kind for op in folded.ops}
    stem = folded.op('conv2d_2')
    assert stem.inputs[0] == folded.ops[0].outputs[0]  # reads the QUANTIZE output directly
    assert stem.attrs.padding.as_tuple() == (1, 1, 1, 1)  # PyTorch's k // 2, now in the conv
    x = load_crop(images / 'person_crop.png')
    whole = run(folded, [x], return_all=True)
    assert np.array_equal(whole[folded.outputs[0]], run(graph, [x])[0])
    # The writer puts the PADs back where TFLite needs them: TFLite Micro agrees.
    assert np.array_equal(run_tflm(write_tflite(folded), [x])[0], whole[folded.outputs[0]])
    for split in split_points(folded)[2:14:4]:
        got = run_patched(folded, [x], plan_from_graph(folded, split, (2, 3)), split, return_all=True)
        assert np.array_equal(got[split], whole[split]), split


def test_fold_pads_on_random_chains() -> None:
    for seed in range(12):
        graph, inputs = random_chain(seed)
        folded = fold_pads(graph)
        assert np.array_equal(run(folded, inputs)[0], run(graph, inputs)[0]), seed
        for op in folded.ops:
            if op.kind == 'pad':  # kept only before pools, at the end, or when a residual also reads it
                users = folded.consumers(op.outputs[0])
                assert len(users) != 1 or users[0].kind not in ('conv2d', 'depthwise_conv2d'), seed
