"""tools/export.py CONFIG CHECKPOINT: a float checkpoint is calibrated (PTQ) on the config's training
images, a QAT checkpoint keeps its ranges; the generated C equals the reference on real test images."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO, run_tool
from tests.quantization.conftest import CLS_CONFIG, DET_CONFIG, build, calibrated

SIZE = 96


@pytest.fixture(autouse=True)
def _mcudet_scope() -> None:
    from mcudet.utils import register_all_modules

    register_all_modules()


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('synvoc')
    run_tool(['python', 'tools/dataset_converters/make_synthetic.py', 'voc', str(root),
              '--num-trainval', '12', '--num-test', '3', '--img-size', str(SIZE)])
    return f'{root}/VOCdevkit/'


def _det_options(root: str) -> list[str]:
    # 96x96 (a multiple of 32) keeps the test fast; the test loader gives the graph's input size.
    sizes = [f'{k}_dataloader.dataset.pipeline.{i}.scale=({SIZE},{SIZE})' for k, i in
             (('train', 2), ('val', 1), ('test', 1))]
    roots = [f'{k}_dataloader.dataset.data_root={root}' for k in ('train', 'val', 'test')]
    return ['data_root=' + root, *roots, 'train_dataloader.batch_size=4', *sizes]


def _save(model: torch.nn.Module, path: Path) -> Path:
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_quantize_config_calibrates_a_float_checkpoint(shapes_root, tmp_path):
    from mcudet.deploy import run
    from mcudet.quantization.from_config import quantize_config

    ckpt = _save(build(DET_CONFIG), tmp_path / 'float.pth')
    opts = dict(kv.split('=', 1) for kv in _det_options(shapes_root))
    opts = {k: (SIZE, SIZE) if k.endswith('.scale') else v for k, v in opts.items()}
    opts['train_dataloader.batch_size'] = 4
    q = quantize_config(DET_CONFIG, ckpt, calib_images=6, num_frames=2, progress=False, cfg_options=opts)
    assert q.mode == 'ptq' and q.calib_images == 8  # two whole batches of 4
    assert q.graph.tensor(q.graph.inputs[0]).shape == (1, SIZE, SIZE, 3)
    assert len(q.frames) == 2 and q.frames[0].dtype == np.int8 and q.frames[0].shape == (1, SIZE, SIZE, 3)
    assert not np.array_equal(q.frames[0], q.frames[1])  # two different test images
    assert len(q.graph.outputs) == 3 and q.graph.metadata['quantization']['mode'] == 'ptq'
    assert len(run(q.graph, [q.frames[0]])) == 3


def test_quantize_config_keeps_qat_ranges(shapes_root, tmp_path):
    from mcudet.deploy import run
    from mcudet.quantization import lower_to_ir
    from mcudet.quantization.from_config import quantize_config

    model = calibrated(DET_CONFIG, SIZE)
    ckpt = _save(model, tmp_path / 'qat.pth')
    opts = dict(kv.split('=', 1) for kv in _det_options(shapes_root))
    opts = {k: (SIZE, SIZE) if k.endswith('.scale') else v for k, v in opts.items()}
    # The ranges come from the checkpoint: the training set is not read (it does not exist here).
    opts['train_dataloader.dataset.data_root'] = str(tmp_path / 'nowhere')
    q = quantize_config(DET_CONFIG, ckpt, calib_images=0, progress=False, cfg_options=opts)
    assert q.mode == 'qat' and q.calib_images == 0
    expected = lower_to_ir(model, (SIZE, SIZE))
    for got, ref in zip(run(q.graph, [q.frames[0]]), run(expected, [q.frames[0]])):
        np.testing.assert_array_equal(got, ref)


def test_float_checkpoint_without_calibration_is_refused(tmp_path):
    from mcudet.quantization.from_config import quantize_config

    ckpt = _save(build(CLS_CONFIG), tmp_path / 'float.pth')
    with pytest.raises(ValueError, match='--calib'):
        quantize_config(CLS_CONFIG, ckpt, calib_images=0, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize('schedule', [[], ['--patches', '2x2', '--split', '4'], ['--patches', 'auto']],
                         ids=['per_layer', '2x2', 'auto'])
def test_cli_exports_a_detector_bit_exactly(shapes_root, tmp_path, schedule):
    ckpt = _save(build(DET_CONFIG), tmp_path / 'float.pth')
    out = tmp_path / 'fw'
    proc = run_tool(['python', 'tools/export.py', DET_CONFIG, str(ckpt), '--out', str(out), '--calib', '8',
                     *schedule, '--cfg-options', *_det_options(shapes_root)])
    assert 'PTQ calibrated on 8 images' in proc.stdout and 'bit-exact' in proc.stdout
    r = json.loads((out / 'report.json').read_text())
    assert r['bitexact_vs_reference'] is True and r['input_bytes'] == SIZE * SIZE * 3
    assert len(r['output_tensors']) == 3 and r['detections_match_reference'] is True
    assert 'detection post-processing' in proc.stdout
    assert 'detections (model_detect) vs decode_yolo: identical' in proc.stdout
    if schedule:
        assert r['schedule']['grid'] is not None and r['schedule']['split_tensor'].startswith('blocks.')
    assert not list(tmp_path.glob('.fw.*'))  # no staging folder left behind
    for name in ('model.c', 'model.h', 'model.tflite', 'host/model_host'):
        assert (out / name).is_file()


def test_cli_argument_errors(tmp_path):
    def fails(*args: str) -> str:
        proc = subprocess.run([sys.executable, 'tools/export.py', *args], cwd=REPO, capture_output=True,
                              text=True)
        assert proc.returncode == 2
        return proc.stderr

    assert 'either CONFIG CHECKPOINT or --tflite' in fails('--out', str(tmp_path))
    assert 'checkpoint is missing' in fails(DET_CONFIG, '--out', str(tmp_path))
    assert 'no such file' in fails(DET_CONFIG, str(tmp_path / 'nope.pth'), '--out', str(tmp_path))
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    assert "expected 'auto' or NxM" in fails(DET_CONFIG, str(ckpt), '--out', str(tmp_path),
                                             '--patches', '2by2', '--split', '3')
    assert 'needs --split' in fails(DET_CONFIG, str(ckpt), '--out', str(tmp_path), '--patches', '2x2')
    assert 'go with --board' in fails(DET_CONFIG, str(ckpt), '--out', str(tmp_path), '--run-qemu')
    assert 'stm32f999' in fails(DET_CONFIG, str(ckpt), '--out', str(tmp_path), '--board', 'stm32f999')


def test_generated_model_detect_equals_the_reference(tmp_path):
    """model_detect (model_invoke + the C YOLO post-processing) gives decode_yolo's boxes."""
    from mcudet.deploy import run
    from mcudet.deploy.codegen import export, run_host
    from mcudet.deploy.yolo import YoloDecodeSpec, decode_yolo
    from mcudet.quantization import lower_to_ir

    graph = lower_to_ir(calibrated(DET_CONFIG, SIZE, seed=5), (SIZE, SIZE))
    frame = np.random.default_rng(1).integers(-128, 128, (1, SIZE, SIZE, 3)).astype(np.int8)
    ex = export(graph, tmp_path, inputs=[[frame]], tflite=False)
    r = ex.report
    assert r['bitexact_vs_reference'] and r['detections_match_reference'] is True
    spec = YoloDecodeSpec.from_dict(graph.metadata['yolo_decode'])
    assert r['detect_bytes'] == sum(graph.tensor(t).nbytes for t in graph.outputs) + 2048 + 36 * spec.nms_pre
    decl = 'int model_detect(const int8_t *input, mcu_box_t *boxes, int32_t *num_boxes);'
    assert decl in ex.generated.header
    sizes = [graph.tensor(t).nbytes for t in graph.outputs]
    _, (boxes, scores, labels) = run_host(ex.exe, frame, sizes, detect=True)
    want = decode_yolo(spec, run(graph, [frame]))
    assert len(scores) == len(want[1]) > 0
    assert np.array_equal(labels, want[2])
    np.testing.assert_allclose(boxes, want[0], rtol=1e-5, atol=1e-3)


def test_same_detections_notices_a_difference():
    from mcudet.deploy.codegen.detect import same_detections

    boxes = np.array([[1, 2, 30, 40], [5, 5, 9, 9]], np.float32)
    det = (boxes, np.array([0.9, 0.5], np.float32), np.array([1, 0]))
    assert same_detections(det, det)
    assert not same_detections(det, (boxes, det[1], np.array([1, 1])))
    assert not same_detections(det, (boxes + 0.5, det[1], det[2]))
    assert not same_detections(det, (boxes[:1], det[1][:1], det[2][:1]))


@pytest.mark.slow
def test_cli_detector_firmware_in_qemu_and_over_budget(shapes_root, tmp_path):
    """--board --run-qemu: the M4 firmware's maps and boxes equal the reference; per layer, the same
    detector at 160x160 does not fit the STM32F412 and the error proposes a schedule that does."""
    import shutil

    if not (shutil.which('arm-none-eabi-gcc') and shutil.which('qemu-system-arm')):
        pytest.skip('arm-none-eabi-gcc / qemu-system-arm are not installed')
    ckpt = _save(build(DET_CONFIG), tmp_path / 'float.pth')
    out = tmp_path / 'fw'
    proc = run_tool(['python', 'tools/export.py', DET_CONFIG, str(ckpt), '--out', str(out), '--calib', '4',
                     '--patches', 'auto', '--board', 'stm32f412', '--run-qemu',
                     '--cfg-options', *_det_options(shapes_root)])
    assert 'bit-exact, boxes identical vs reference' in proc.stdout
    r = json.loads((out / 'report.json').read_text())
    assert r['board'] == 'stm32f412' and r['fits'] is True and r['bitexact_vs_reference'] is True
    assert r['detections_match_reference'] is True and r['firmware']['detections_match_reference'] is True
    assert r['instructions'] > r['macs'] and 0 < r['stack_bytes'] < 8192
    assert r['sram_bytes'] <= 256 * 1024 and r['flash_bytes'] > r['weights_bytes']
    assert (out / 'firmware' / 'stm32f412-dsp' / 'firmware.elf').is_file()
    # The same on the Cortex-M7 profile, portable kernels.
    m7 = tmp_path / 'fw_m7'
    proc = run_tool(['python', 'tools/export.py', DET_CONFIG, str(ckpt), '--out', str(m7), '--calib', '4',
                     '--patches', 'auto', '--board', 'stm32f746', '--run-qemu', '--no-dsp',
                     '--cfg-options', *_det_options(shapes_root)])
    assert 'stm32f746 (cortex-m7, portable)' in proc.stdout and 'boxes identical' in proc.stdout
    r7 = json.loads((m7 / 'report.json').read_text())
    assert r7['bitexact_vs_reference'] is True and r7['detections_match_reference'] is True
    assert r7['firmware']['dsp'] is False and r7['instructions'] > r['instructions']
    # Per layer at 160x160 (the config's size): the arena alone is over 256 kB.
    options = [o for o in _det_options(shapes_root) if '.scale=' not in o]
    proc = subprocess.run([sys.executable, 'tools/export.py', DET_CONFIG, str(ckpt), '--out',
                           str(tmp_path / 'big'), '--calib', '4', '--board', 'stm32f412', '--cfg-options',
                           *options], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'over budget by' in proc.stdout and 'try --patches' in proc.stdout
    r = json.loads((tmp_path / 'big' / 'report.json').read_text())
    assert r['fits'] is False and 'over budget' in r['firmware']['error']
