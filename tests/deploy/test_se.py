"""Squeeze-excite in int8 with the IR's ops only: MEAN, two 1x1 convs, a hardsigmoid folded into the
second conv (weights / 6, bias + 3, output scale 1/255 with zero point -128), and a broadcast MUL.

The whole block matches TFLite Micro bit for bit, and the int8 gate is hardsigmoid to within
one step of 1/255 (see the docstring of mcudet.deploy.ops).
"""
from __future__ import annotations

import numpy as np
import pytest

from mcudet.arch.spec import ArchSpec, BlockSpec, ConvSpec
from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.ops import Mean, Mul
from mcudet.deploy.patch_exec import patch_stage, split_points
from mcudet.deploy.reference import run
from mcudet.deploy.synthetic import graph_from_spec
from mcudet.patch.receptive import PatchPlanError

from .conftest import needs_tflm


def se_block(seed: int):
    rng = np.random.default_rng(seed)
    h, w, c, r = 6, 5, 16, 4
    s_x, zp_x = 0.05, -20
    b = GraphBuilder('se')
    x = b.input('x', (1, h, w, c), s_x, zp_x)
    m = b.op('mean', 'se.pool', [x], Mean((1, 2), keep_dims=True), s_x, zp_x)
    s_w1 = np.full(r, 0.01, np.float32)
    w1 = rng.integers(-127, 128, (r, 1, 1, c)).astype(np.int8)
    s_h = 0.04
    hid = b.conv2d('se.reduce', m, w1, rng.integers(0, 6000, r).astype(np.int32), s_w1, s_h, -128,
                   activation='relu')
    # hardsigmoid(z) = clamp(z / 6 + 0.5, 0, 1) folded into the expand conv.
    w2 = rng.integers(-127, 128, (c, 1, 1, r)).astype(np.int8)
    s_w2 = np.full(c, 0.002, np.float32)
    b_real = rng.uniform(-1, 1, c)
    acc_scale = np.float64(np.float32(s_h)) * np.float64(np.float32(0.002 / 6))
    bias = np.round((b_real + 3.0) / 6.0 / acc_scale).astype(np.int32)
    gate = b.conv2d('se.expand', hid, w2, bias, (s_w2 / 6).astype(np.float32), 1 / 255, -128,
                    activation='relu')
    y = b.op('mul', 'se.scale', [x, gate], Mul(), 0.05, -20)
    b.output(y)
    graph = b.build()
    image = rng.integers(-128, 128, (1, h, w, c)).astype(np.int8)
    return graph, [image], (w2, s_w2, b_real, s_h)


@needs_tflm
def test_se_block_matches_tflite_micro() -> None:
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.tflm import run_tflm

    for seed in range(10):
        graph, inputs, _ = se_block(seed)
        assert np.array_equal(run(graph, inputs)[0], run_tflm(write_tflite(graph), inputs)[0]), seed


def test_folded_hardsigmoid_gate_is_within_one_step() -> None:
    for seed in range(10):
        graph, inputs, (w2, s_w2, b_real, s_h) = se_block(seed)
        values = run(graph, inputs, return_all=True)
        hid = (values['se.reduce'].astype(np.float64) + 128) * np.float32(s_h)  # dequantized hidden vector
        z = w2[:, 0, 0, :].astype(np.float64) @ hid.reshape(-1) * np.float64(np.float32(s_w2[0])) + b_real
        hardsigmoid = np.clip(z / 6 + 0.5, 0, 1)
        gate = (values['se.expand'].reshape(-1).astype(np.float64) + 128) / 255
        assert np.all(gate >= 0) and np.all(gate <= 1)
        assert np.max(np.abs(gate - hardsigmoid)) <= 1 / 255, seed


SE_SPEC = ArchSpec('se-net', ConvSpec(8, 3, 2), (BlockSpec(8, 3, 1, 1), BlockSpec(16, 3, 4, 2, se_ratio=0.25),
                                                 BlockSpec(16, 5, 4, 1, se_ratio=0.25)), 32, 3, None, None)


@needs_tflm
@pytest.mark.parametrize('spec_name, hw', [('se-net', (32, 28)), ('mbv2-w0.35', (48, 40)),
                                           ('mcunet-in0', (48, 48))])
def test_whole_networks_from_specs_match_tflite_micro(spec_name: str, hw) -> None:
    from mcudet.arch import zoo
    from mcudet.deploy.tflite_writer import write_tflite
    from mcudet.deploy.tflm import run_tflm

    spec = SE_SPEC if spec_name == 'se-net' else zoo.get_spec(spec_name)
    for seed, float_input in ((0, False), (1, True)):
        graph = graph_from_spec(spec, hw, seed=seed, float_input=float_input)
        rng = np.random.default_rng(seed)
        x = (rng.uniform(-1, 1, (1, *hw, 3)).astype(np.float32) if float_input
             else rng.integers(-128, 128, (1, *hw, 3)).astype(np.int8))
        ours = run(graph, [x])[0]
        assert np.array_equal(ours, run_tflm(write_tflite(graph), [x])[0]), f'{spec_name} seed {seed}'
        assert len(np.unique(ours)) > 1


def test_se_units_stay_in_the_per_layer_stage() -> None:
    graph = graph_from_spec(SE_SPEC, (32, 28))
    assert split_points(graph)[-1] == 'blocks.1.dw'
    with pytest.raises(PatchPlanError, match=r"op 'blocks.1.se.pool' \(mean\) has no patch rule"):
        patch_stage(graph, 'blocks.1.project')
