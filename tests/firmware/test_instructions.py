"""Instruction counts (instructions, not cycles): the TCG plugin counts exactly and repeatably between
the harness's markers; -icount shift=0 + SysTick agrees within one SysTick tick; DSP beats portable."""
from __future__ import annotations

from pathlib import Path

import pytest

from mcudet.deploy.firmware import FirmwareError, build_firmware, run_firmware

from .conftest import conv1x1_graph, depthwise_graph, exported, int8_inputs, needs_arm_gcc, needs_qemu

pytestmark = [needs_arm_gcc, needs_qemu, pytest.mark.slow]


@pytest.fixture(scope='module')
def conv(tmp_path_factory):
    graph = conv1x1_graph(8, 32, 32)
    out = tmp_path_factory.mktemp('pw')
    ex, frames, refs = exported(graph, out, int8_inputs(graph, n=2), tflite=False)
    return ex, out, frames


def test_plugin_counts_are_exact_and_repeatable(plugin: Path, conv) -> None:
    ex, out, frames = conv
    fw = build_firmware(out, 'stm32f412', dsp=True)
    a = run_firmware(fw, [frames[0], frames[1], frames[0]], count='plugin')
    b = run_firmware(fw, frames[0], count='plugin')
    assert a.counter == 'plugin' and a.counter_resolution == 0
    assert a.instructions[0] == a.instructions[2] == b.instructions[0]
    macs = ex.report['macs']
    # SMLAD does two MACs: 0.5 instructions per MAC is the floor of an int8 conv on this core.
    assert macs * 0.5 < a.instructions[0] < macs * 20


def test_icount_systick_agrees_with_plugin(plugin: Path, conv) -> None:
    _, out, frames = conv
    for board in ('stm32f412', 'stm32f746', 'netduinoplus2'):
        fw = build_firmware(out, board, dsp=True)
        exact = run_firmware(fw, frames[0], count='plugin').instructions[0]
        est = run_firmware(fw, frames[0], count='icount')
        assert est.counter == 'icount-systick' and est.counter_resolution > 0
        # One tick of resolution, plus the few marker / SysTick-read instructions the estimate includes.
        got = est.instructions[0]
        assert abs(got - exact) <= est.counter_resolution + 16, (board, exact, got)


def test_dsp_path_runs_fewer_instructions(plugin: Path, tmp_path: Path) -> None:
    for graph in (conv1x1_graph(8, 32, 32), depthwise_graph(8, 32, 3)):
        out = tmp_path / graph.name
        _, frames, _ = exported(graph, out, int8_inputs(graph), tflite=False)
        dsp, portable = (run_firmware(build_firmware(out, 'stm32f412', dsp=d), frames,
                                      count='plugin').instructions[0] for d in (True, False))
        assert dsp < portable, (graph.name, dsp, portable)


def test_count_none_and_missing_plugin(conv, monkeypatch) -> None:
    _, out, frames = conv
    fw = build_firmware(out, 'stm32f412')
    run = run_firmware(fw, frames[0], count='none')
    assert run.instructions is None and run.counter == 'none'
    import mcudet.deploy.firmware as firmware

    monkeypatch.setattr(firmware, 'plugin_library', lambda: (None, 'no qemu-plugin.h (test)'))
    with pytest.raises(FirmwareError, match=r'plugin is unavailable: no qemu-plugin.h \(test\)'):
        run_firmware(fw, frames[0], count='plugin')
    assert run_firmware(fw, frames[0], count='auto').counter == 'icount-systick'
