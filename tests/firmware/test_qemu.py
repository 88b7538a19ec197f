"""Firmware in QEMU (mcudet.deploy.firmware): the generated C, the runtime and deploy/boards built with
arm-none-eabi-gcc for Cortex-M4 (mps2-an386) and Cortex-M7 (mps2-an500), run under semihosting,
give the NumPy reference executor's outputs bit for bit: one-op models, a zoo backbone per layer
and patch by patch, and vww.tflite."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcudet.arch import zoo
from mcudet.deploy.codegen import layer_split, sample_input
from mcudet.deploy.firmware import build_firmware, run_firmware
from mcudet.deploy.synthetic import graph_from_spec, random_op_graph

from .conftest import (
    assert_bitexact,
    conv1x1_graph,
    depthwise_graph,
    exported,
    int8_inputs,
    needs_arm_gcc,
    needs_qemu,
)

pytestmark = [needs_arm_gcc, needs_qemu, pytest.mark.slow]

M4, M7 = 'stm32f412', 'stm32f746'


@pytest.mark.parametrize('dsp', [True, False], ids=['dsp', 'portable'])
@pytest.mark.parametrize('board', [M4, M7])
@pytest.mark.parametrize('make', [lambda: conv1x1_graph(6, 24, 20), lambda: depthwise_graph(7, 20, 5)],
                         ids=['conv1x1', 'depthwise5x5'])
def test_single_op(tmp_path: Path, make, board: str, dsp: bool) -> None:
    graph = make()
    inputs = int8_inputs(graph, n=2)
    _, frames, refs = exported(graph, tmp_path, inputs, tflite=False)
    fw = build_firmware(tmp_path, board, dsp=dsp)
    assert fw.elf.is_file() and fw.fits and fw.board.name == board
    run = run_firmware(fw, frames, count='none')
    assert_bitexact(run.outputs, refs)
    assert 0 < run.stack_bytes < fw.sram.stack_reserved


def _assert_bitexact_on_m4_dsp(tmp_path: Path, graph, ins: list[np.ndarray]) -> None:
    """The graph exported, built for M4 with the DSP path, run in QEMU: outputs equal the reference."""
    _, frames, refs = exported(graph, tmp_path, [ins], tflite=False)
    run = run_firmware(build_firmware(tmp_path, M4, dsp=True), frames, count='none')
    assert_bitexact(run.outputs, refs)


def _one_conv(rng: np.random.Generator, name: str, kind: str, hw, ci: int, co: int, kernel, stride: int,
              dilation: int, act: str, out_scale: float):
    """A one-op CONV_2D or DEPTHWISE_CONV_2D graph (random int8 weights, int32 bias, per-channel
    scales) and a random input for it."""
    from mcudet.deploy.builder import GraphBuilder

    b = GraphBuilder(name)
    x = b.input('x', (1, *hw, ci), 0.03, int(rng.integers(-20, 20)))
    w = rng.integers(-127, 128, size=(1 if kind == 'depthwise_conv2d' else co, *kernel, ci)).astype(np.int8)
    bias = rng.integers(-2000, 2000, co).astype(np.int32)
    build = b.depthwise_conv2d if kind == 'depthwise_conv2d' else b.conv2d
    y = build('op', x, w, bias, (10 ** rng.uniform(-3, -2, co)).astype(np.float32), out_scale,
              int(rng.integers(-128, -100)), stride=(stride, stride), dilation=(dilation, dilation),
              activation=act)
    b.output(y)
    return b.build(), [rng.integers(-128, 128, size=(1, *hw, ci)).astype(np.int8)]


ONE_INPUT_KINDS = ('conv2d', 'depthwise_conv2d', 'fully_connected', 'average_pool2d', 'max_pool2d', 'mean',
                   'pad', 'resize_nearest', 'requantize')


@pytest.mark.parametrize('kind', ONE_INPUT_KINDS)
def test_random_ops_on_m4(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(7)
    graph, ins = random_op_graph(kind, rng)
    _assert_bitexact_on_m4_dsp(tmp_path, graph, ins)


@pytest.mark.parametrize('seed', range(12))
@pytest.mark.parametrize('kind', ['conv2d', 'depthwise_conv2d', 'fully_connected'])
def test_dsp_assembly_kernels_on_random_shapes(tmp_path: Path, kind: str, seed: int) -> None:
    """The inline-assembly paths (1x1 and general conv row pairs, depthwise interior pixels) run only
    on Arm, never in the host's emulated DSP build: random shapes, groups, tails, strides and
    activation ranges in QEMU."""
    graph, ins = random_op_graph(kind, np.random.default_rng(100 + seed))
    _assert_bitexact_on_m4_dsp(tmp_path, graph, ins)


# (kernel, hw, stride, activation). The relu / relu6 cases of 5 x 5 and 7 x 7 kernels take
# mcu_internal_dw_border: rows in and partly out of the map, strides 1 and 2, with (11, 14) stride 2
# several interior pixels in one run of rows with kernel rows out of the map.
BORDER_CASES = [(7, (1, 9), 1, 'none'), (7, (2, 3), 1, 'relu6'), (7, (5, 8), 2, 'none'),
                (7, (9, 6), 1, 'relu'), (5, (1, 2), 1, 'relu6'), (5, (6, 7), 2, 'none'),
                (3, (1, 1), 1, 'none'), (3, (4, 9), 2, 'relu6'), (7, (11, 14), 2, 'relu6'),
                (5, (7, 5), 2, 'relu'), (5, (12, 11), 1, 'relu6'), (7, (3, 4), 1, 'relu')]


@pytest.mark.parametrize('k,hw,stride,act', BORDER_CASES)
def test_depthwise_border_pixels_through_the_assembly(tmp_path: Path, k: int, hw, stride: int,
                                                      act: str) -> None:
    """Wide kernels on small maps: pixels with 1 .. k taps in the map in each kernel row (the
    assembly's border entries), channel tails, strides, full and clamped activation ranges."""
    rng = np.random.default_rng(k * 100 + hw[0] * 10 + hw[1])
    graph, ins = _one_conv(rng, f'dw{k}_{hw[0]}x{hw[1]}_s{stride}', 'depthwise_conv2d', hw, 13, 13, (k, k),
                           stride, 1, act, 0.05)
    _assert_bitexact_on_m4_dsp(tmp_path, graph, ins)


# (kernel, in_c, hw, stride, dilation, activation): k = kh * kw * in_c with each k % 4, round4(k) up
# to 64 and past it, k < 4, and output pixel counts that leave 0 to 3 pixels after the blocks of four.
FOUR_COLUMN_CASES = [((3, 3), 3, (9, 9), 2, 1, 'none'), ((3, 3), 2, (5, 6), 1, 1, 'relu6'),
                     ((2, 2), 5, (4, 4), 1, 1, 'none'), ((5, 5), 1, (5, 9), 2, 1, 'relu'),
                     ((3, 3), 7, (7, 9), 1, 2, 'none'), ((1, 3), 1, (3, 5), 1, 1, 'relu6'),
                     ((3, 3), 8, (3, 7), 1, 1, 'none'), ((3, 1), 5, (6, 1), 3, 1, 'relu6')]


@pytest.mark.parametrize('kernel,ci,hw,stride,dilation,act', FOUR_COLUMN_CASES)
def test_small_general_convs_four_columns_through_the_assembly(tmp_path: Path, kernel, ci: int, hw,
                                                               stride: int, dilation: int, act: str) -> None:
    """The general conv's four-column path (round4(k) <= 64: four pixels' columns through the 1x1
    kernel's rows, the first group's gap for k % 4 != 0), border pixels from the pads, a short last
    block; k < 4 and round4(k) > 64 take the one-column path."""
    rng = np.random.default_rng(kernel[0] * 1000 + ci * 100 + hw[0] * 10 + hw[1])
    graph, ins = _one_conv(rng, f'conv{kernel[0]}x{kernel[1]}_c{ci}_{hw[0]}x{hw[1]}', 'conv2d', hw, ci, 11,
                           kernel, stride, dilation, act, 0.1)
    _assert_bitexact_on_m4_dsp(tmp_path, graph, ins)


# (hw, in_c, out_c, stride, activation): output pixel counts that leave one or two pixels after the
# blocks of four (or only those), in_c / 4 odd and even, out_c % 4 from 0 to 3, in_c % 4 != 0.
PW_LEFTOVER_CASES = [((3, 3), 8, 11, 1, 'none'), ((5, 2), 12, 6, 1, 'relu6'), ((1, 1), 4, 8, 1, 'relu'),
                     ((1, 2), 20, 5, 1, 'none'), ((5, 5), 24, 13, 1, 'relu6'), ((9, 17), 16, 7, 2, 'none'),
                     ((3, 3), 6, 9, 1, 'relu6')]


@pytest.mark.parametrize('hw,ci,co,stride,act', PW_LEFTOVER_CASES)
def test_pointwise_leftover_pixels_through_the_assembly(tmp_path: Path, hw, ci: int, co: int, stride: int,
                                                        act: str) -> None:
    """1x1 convs whose last one or two pixels take the one-column path (four filter rows at a time,
    the last out_c % 4 rows two and one at a time), full and clamped activation ranges."""
    rng = np.random.default_rng(hw[0] * 1000 + hw[1] * 100 + ci * 10 + co)
    graph, ins = _one_conv(rng, f'pw_c{ci}x{co}_{hw[0]}x{hw[1]}_s{stride}', 'conv2d', hw, ci, co, (1, 1),
                           stride, 1, act, 0.1)
    _assert_bitexact_on_m4_dsp(tmp_path, graph, ins)


@pytest.fixture(scope='module')
def backbone():
    graph = graph_from_spec(zoo.get_spec('mbv2-w0.35-r144'), input_hw=(48, 48))
    return graph, [op for op in graph.ops if op.group == 'blocks.3'][-1].outputs[0]


@pytest.mark.parametrize('board', [M4, M7])
@pytest.mark.parametrize('grid', [None, (2, 2)], ids=['per_layer', '2x2'])
def test_zoo_backbone(tmp_path: Path, backbone, board: str, grid) -> None:
    graph, split = backbone
    inputs = int8_inputs(graph, n=2)
    ex, frames, refs = exported(graph, tmp_path, inputs, patches=grid, split=split if grid else None,
                                tflite=False)
    fw = build_firmware(tmp_path, board, dsp=True)
    assert fw.sram.arena == ex.plan.arena_bytes and fw.sram.input_buffer == ex.plan.input_bytes
    run = run_firmware(fw, frames, count='none')
    assert_bitexact(run.outputs, refs)


@pytest.mark.parametrize('board, schedule, dsp', [(M4, 'per_layer', True), (M4, 'per_layer', False),
                                                 (M7, '2x2_first5', True)])
def test_vww(tmp_path: Path, vww_graph, board: str, schedule: str, dsp: bool) -> None:
    kw = {} if schedule == 'per_layer' else {'patches': (2, 2), 'split': layer_split(vww_graph, 5)}
    inputs = [[sample_input(vww_graph, seed)] for seed in (0, 1)]
    ex, frames, refs = exported(vww_graph, tmp_path, inputs, tflite=False, **kw)
    fw = build_firmware(tmp_path, board, dsp=dsp)
    run = run_firmware(fw, frames, count='none')
    assert_bitexact(run.outputs, refs)
    # Flash holds the weights; SRAM holds the arena the plan made plus the harness's 80x80x3 frame buffer.
    assert fw.flash.model_constants >= ex.report['weights_bytes'] and fw.flash.total < fw.board.flash_bytes
    assert fw.sram.arena == ex.report['arena_bytes'] and fw.sram.input_buffer == 80 * 80 * 3
    s = fw.sram
    assert s.total == (s.arena + s.input_buffer + s.output_buffers + s.other_static + s.heap_reserved
                       + s.stack_reserved)
    assert run.stack_bytes < 2048 and run.heap_bytes < fw.sram.heap_reserved


def test_two_outputs(tmp_path: Path) -> None:
    from mcudet.deploy.builder import GraphBuilder

    rng = np.random.default_rng(3)
    b = GraphBuilder('two_heads')
    x = b.input('x', (1, 6, 6, 8), 0.02, 0)
    a = b.conv2d('a', x, rng.integers(-127, 128, (12, 3, 3, 8)).astype(np.int8), None,
                 np.full(12, 0.002, np.float32), 0.05, -128, activation='relu')
    c = b.depthwise_conv2d('c', a, rng.integers(-127, 128, (1, 3, 3, 12)).astype(np.int8), None,
                           np.full(12, 0.01, np.float32), 0.05, 3, stride=(2, 2))
    b.output(a)
    b.output(c)
    graph = b.build()
    _, frames, refs = exported(graph, tmp_path, int8_inputs(graph, n=2), tflite=False)
    fw = build_firmware(tmp_path, M7)
    assert fw.output_bytes == (6 * 6 * 12, 3 * 3 * 12)
    assert_bitexact(run_firmware(fw, frames, count='none').outputs, refs)
