"""Code generation (mcudet.deploy.codegen, tools/export.py): the generated C, built on the host with
the runtime, gives the reference executor's output bit for bit, and report.json tells the plan."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcudet.deploy.codegen import export, layer_split, make_plan, strip_output_dequantize

from ..conftest import run_tool


def load_crop(path: Path) -> np.ndarray:
    """An 80x80 PNG as the model's float input: RGB, x / 127.5 - 1, NHWC."""
    cv2 = pytest.importorskip('cv2')
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None and bgr.shape == (80, 80, 3)
    return (bgr[:, :, ::-1].astype(np.float32) / np.float32(127.5) - np.float32(1.0))[None]


@pytest.fixture(scope='module')
def vww(request):
    from tests.conftest import shared_dir

    shared = shared_dir()
    path = shared / 'reference' / 'tflite' / 'vww.tflite' if shared else None
    images = shared / 'reference' / 'images' if shared else None
    if path is None or not path.is_file() or not (images / 'person_crop.png').is_file():
        pytest.skip('vww.tflite or the reference images are absent (set MCUDET_SHARED=/path/to/shared)')
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.transforms import fold_pads

    graph = fold_pads(read_tflite(path))
    crops = [[load_crop(images / n)] for n in ('person_crop.png', 'no_person_crop.png')]
    return graph, crops


@pytest.mark.parametrize('schedule', ['per_layer', '2x2_first5', 'auto'])
def test_vww_export_is_bitexact(vww, tmp_path: Path, schedule: str) -> None:
    graph, crops = vww
    kw = {'per_layer': {}, '2x2_first5': {'patches': (2, 2), 'split': layer_split(graph, 5)},
          'auto': {'patches': 'auto'}}[schedule]
    if schedule == '2x2_first5':
        assert graph.producer(kw['split']).name == 'depthwise_conv2d_7'
    ex = export(graph, tmp_path, inputs=crops, tflite=schedule == 'per_layer', **kw)
    r = json.loads((tmp_path / 'report.json').read_text())
    assert r['bitexact_vs_reference'] is True
    plan = make_plan(strip_output_dequantize(graph), **kw)
    assert r['arena_bytes'] == plan.arena_bytes == ex.plan.arena_bytes
    assert r['scratch_bytes'] == plan.scratch_bytes and r['input_bytes'] == 80 * 80 * 3
    assert r['input_resident'] is False and r['host_ops'] == ['quantize_0']
    assert abs(r['weights_bytes'] - plan.weights_bytes) <= 64  # per-tensor FC multiplier stored per channel
    assert r['schedule']['grid'] == (list(plan.grid) if plan.grid else None)
    assert r['schedule']['split_tensor'] == plan.split_tensor
    assert f'#define MODEL_ARENA_BYTES {plan.arena_bytes} ' in (tmp_path / 'model.h').read_text()
    assert 'int model_invoke(const int8_t *input, int8_t *output0);' in (tmp_path / 'model.h').read_text()
    # The two crops are classified differently (person / no person): the logits are not constant.
    from mcudet.deploy.codegen import reference_io, run_host
    outs = [run_host(ex.exe, reference_io(ex.graph, ex.plan, c)[0], [2])[0] for c in crops]
    assert int(np.argmax(outs[0])) == 1 and int(np.argmax(outs[1])) == 0
    # The generated code runs 1x1 convs, expansions and ADDs in place as well as depthwise.
    assert {s.in_place for s in ex.plan.steps} >= {'depthwise', 'pointwise', 'expand', 'elementwise'}
    if schedule == 'per_layer':
        assert r['macs'] > 10_000_000 and (tmp_path / 'model.tflite').stat().st_size > 400_000
    else:
        assert r['arena_bytes'] < 60_000


def test_vww_resident_input_is_in_the_arena(vww, tmp_path: Path) -> None:
    graph, crops = vww
    ex = export(graph, tmp_path, inputs=crops[:1], tflite=False, input_resident=True)
    assert ex.report['bitexact_vs_reference'] and ex.report['input_resident'] is True
    assert 'resident' in ex.report['memory'] and '#define MODEL_INPUT_RESIDENT 1' in ex.generated.header


@pytest.mark.parametrize('grid,unit', [(None, None), ((3, 2), 'blocks.3'), ((3, 2), 'blocks.2'),
                                       ((2, 3), 'blocks.2')])
def test_synthetic_graph_export(tmp_path: Path, grid, unit) -> None:
    """Per layer and patch-based; blocks.2 ends with its residual ADD, so the stage's last project
    conv writes into the stage output and the ADD runs in place there (MemoryPlan.stage_views)."""
    from mcudet.arch import zoo
    from mcudet.deploy.synthetic import graph_from_spec

    graph = graph_from_spec(zoo.get_spec('mbv2-w0.35-r144'), input_hw=(48, 48))
    split = [op for op in graph.ops if op.group == unit][-1].outputs[0] if grid else None
    rng = np.random.default_rng(1)
    inputs = [[rng.integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape).astype(np.int8)]
              for _ in range(2)]
    ex = export(graph, tmp_path, patches=grid, split=split, inputs=inputs)
    assert ex.report['bitexact_vs_reference'] is True
    assert ex.report['host_ops'] == [] and ex.report['schedule']['grid'] == (list(grid) if grid else None)
    if unit == 'blocks.2':
        assert graph.producer(split).kind == 'add' and ex.plan.stage_views


def test_cli_end_to_end(vww, tmp_path: Path) -> None:
    from tests.conftest import shared_dir

    model = shared_dir() / 'reference' / 'tflite' / 'vww.tflite'
    out = tmp_path / 'vww'
    proc = run_tool(['python', 'tools/export.py', '--tflite', str(model), '--out', str(out),
                     '--patches', '2x2', '--split', '5'], timeout=300)
    r = json.loads((out / 'report.json').read_text())
    assert r['bitexact_vs_reference'] is True and r['schedule']['grid'] == [2, 2]
    for name in ('model.h', 'model.c', 'model.tflite', 'host/model_host'):
        assert (out / name).is_file(), name
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f'activation arena {r["arena_bytes"]:,} B') and 'streamed' in last
    assert f'weights {r["weights_bytes"]:,} B in flash' in last
