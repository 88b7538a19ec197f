"""tools/analysis_tools/memory_profile.py: paper numbers, sweep, configs, plot, JSON and errors.

The tool runs as a subprocess (as a user runs it); the parsers and the kept-output peak of
:mod:`mcudet.patch.profile` are tested in-process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcudet.arch import build_units, get_spec
from mcudet.patch import make_patch_plan, memory_report
from mcudet.patch.profile import (
    ProfileError,
    parse_bytes,
    parse_input_size,
    parse_patches,
    peak_with_outputs,
)
from tests.conftest import REPO, run_tool

TOOL = str(REPO / 'tools/analysis_tools/memory_profile.py')


def _profile(tmp_path: Path, *args: str) -> tuple[dict, str]:
    out = tmp_path / 'profile.json'
    proc = run_tool(['python', TOOL, *args, '--json', str(out)])
    assert not list(tmp_path.glob('.profile.json.*')), 'the atomic write left its temporary file behind'
    return json.loads(out.read_text()), proc.stdout


def test_mobilenet_v2_4x4_split5_matches_the_paper(tmp_path: Path) -> None:
    data, text = _profile(tmp_path, 'mbv2', '--input-size', '224', '--patches', '4x4', '--split', '5')
    assert data['per_layer_peak_bytes'] == 1404928  # 1372 kB: blocks.1.expand
    assert data['patch_peak_bytes'] == 175616  # 171.5 kB (paper: 172 kB)
    assert data['input_patch_size'] == [75, 75]
    assert (data['split'], data['grid'], data['input_hw']) == (5, [4, 4], [224, 224])
    assert data['macs'] < data['patch_macs'] < 1.1 * data['macs']  # +9.3 %
    assert data['patch_peak_with_input_bytes'] == 312816  # the 147 kB frame kept through the per-patch stage
    blocks = data['blocks']
    assert [b['name'] for b in blocks[:2]] == ['stem', 'blocks.0'] and blocks[-1]['name'] == 'classifier'
    assert len(blocks) == 20 and all({'per_layer_bytes', 'patch_bytes', 'macs'} <= set(b) for b in blocks)
    assert max(b['per_layer_bytes'] for b in blocks) == 1404928
    assert max(b['patch_bytes'] for b in blocks) == 175616
    assert [b['stage'] for b in blocks].count('patch') == 5
    # the printed table and the peaks with their convention
    assert 'blocks.1' in text and '1372.0' in text and '171.5 kB' in text
    assert 'input frame streamed' in text and 'frame resident' in text and '+9.3 %' in text


def test_mbv2_rd_input_patch_is_63(tmp_path: Path) -> None:
    # MbV2-RD's per-patch stage is stem + 3 blocks (paper Fig. 4), i.e. split 4.
    data, _ = _profile(tmp_path, 'mbv2-rd', '--patches', '4x4', '--split', '4')
    assert data['input_patch_size'] == [63, 63]
    assert data['patch_peak_bytes'] == 175616 and data['mac_overhead'] < 0.03  # paper: +3 %


def test_sweep_table(tmp_path: Path) -> None:
    data, text = _profile(tmp_path, 'mbv2', '--sweep', '--budget', '180kB')
    assert 'split   grid' in text and 'fits' in text
    assert '    5    4x4     171.5' in text  # the paper's schedule is the cheapest under 180 kB
    assert data['schedule'] == 'per-layer' and data['patch_peak_bytes'] == data['per_layer_peak_bytes']
    assert data['best_schedule']['split'] == 5 and data['best_schedule']['grid'] == [4, 4]
    rows = data['sweep']
    assert rows[0]['split'] == 0 and rows[0]['grid'] is None and not rows[0]['fits']
    assert any(r['fits'] for r in rows) and all(r['peak_bytes'] > 0 for r in rows)


def test_patches_auto(tmp_path: Path) -> None:
    data, text = _profile(tmp_path, 'mbv2', '--patches', 'auto', '--budget', '180kB')
    assert (data['split'], data['grid'], data['patch_peak_bytes']) == (5, [4, 4], 175616)
    assert 'searched under 180 kB' in text


def test_config_input_reads_the_backbone_without_torch(tmp_path: Path) -> None:
    cfg = tmp_path / 'det_cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mcudet.models'], allow_failed_imports=False)\n"
        "model = dict(type='YOLOV3', backbone=dict(\n"
        "    type='PatchBasedBackbone', patches=(4, 4), split=5,\n"
        "    backbone=dict(type='mcudet.MCUNetV2Backbone', arch='mbv2', out_indices=(4, 13, 18))))\n")
    out = tmp_path / 'p.json'
    code = ('import runpy, sys\n'
            f'sys.argv = ["memory_profile.py", {str(cfg)!r}, "--json", {str(out)!r}]\n'
            'try:\n'
            f'    runpy.run_path({TOOL!r}, run_name="__main__")\n'
            'except SystemExit as e:\n'
            '    assert not e.code, e.code\n'
            'heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "mmdet"))\n'
            'assert not heavy, heavy\n')
    proc = run_tool(['python', '-c', code])
    data = json.loads(out.read_text())
    assert (data['split'], data['grid'], data['patch_peak_bytes']) == (5, [4, 4], 175616)
    assert data['out_indices'] == [4, 13, 18] and data['out_strides'] == [8, 16, 32]
    # the stride-8 map (32x28x28) stays alive beside the per-layer stage
    assert data['peak_with_outputs_bytes'] == 175616 + 32 * 28 * 28
    assert 'kept for a neck' in proc.stdout


def test_plain_backbone_config_with_block_strings(tmp_path: Path) -> None:
    cfg = tmp_path / 'cls_cfg.py'
    cfg.write_text("model = dict(type='ImageClassifier', backbone=dict(\n"
                   "    type='MCUNetV2Backbone', arch=dict(\n"
                   "        stem='conv_k3_c16_s2', resolution=96,\n"
                   "        blocks=['ir_k3_e1_c8', 'ir_k3_e6_c16_s2_r2'])))\n")
    data, _ = _profile(tmp_path, str(cfg), '--input-size', '96x64')
    assert data['input_hw'] == [96, 64] and data['schedule'] == 'per-layer'
    assert data['per_layer_peak_bytes'] == 8 * 48 * 32 + 48 * 48 * 32  # blocks.1.expand


def test_plot_writes_a_png(tmp_path: Path) -> None:
    png = tmp_path / 'fig' / 'mem.png'
    run_tool(['python', TOOL, 'mcunetv2-vww', '--patches', '4x4', '--budget', '32kB', '--plot', str(png)])
    head = png.read_bytes()[:8]
    assert head == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000


@pytest.mark.parametrize('args, message', [
    (['no-such-net'], "no spec named 'no-such-net'"),
    (['mbv2', '--patches', '4by4'], "patches '4by4': use ROWSxCOLS"),
    (['mbv2', '--patches', '4x4', '--split', '99'], 'split=99 is out of range'),
    (['mbv2', '--split', '5'], 'needs a patch grid'),
    (['mbv2', '--input-size', '224by160'], 'HEIGHTxWIDTH'),
    (['mmdet_mbv2.py'], "model.backbone.type='MobileNetV2'"),
])
def test_bad_input_is_a_clear_error(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / 'mmdet_mbv2.py').write_text(
        "model = dict(type='YOLOV3', backbone=dict(type='MobileNetV2', out_indices=(2, 4, 6)))\n")
    proc = subprocess.run([sys.executable, TOOL, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and 'Traceback' not in proc.stderr


def test_parsers() -> None:
    assert parse_input_size('224') == (224, 224) and parse_input_size('224x160') == (224, 160)
    assert parse_patches('4x4') == (4, 4) and parse_patches('3X5') == (3, 5)
    assert parse_patches('AUTO') == 'auto'
    assert parse_bytes('256kB') == 262144 and parse_bytes('0.5MB') == 524288 and parse_bytes('1000') == 1000
    for bad, parse in (('0x4', parse_patches), ('4by4', parse_patches), ('-3', parse_input_size),
                       ('256 GB', parse_bytes), ('0kB', parse_bytes)):
        with pytest.raises(ProfileError):
            parse(bad)


def test_kept_outputs_are_added_only_where_not_counted() -> None:
    spec = get_spec('mbv2')
    report = memory_report(spec, 224, make_patch_plan(spec, 224, 4, 5))
    units = build_units(spec, (224, 224))
    assert peak_with_outputs(report, units, [18]) == (report.patch_peak_bytes, report.patch_peak_layer)
    # blocks.4 reads the kept stride-8 map (unit 4) as its input: not added there, but in blocks.5.
    kept, where = peak_with_outputs(report, units, [4, 18])
    assert kept == report.patch_peak_bytes + 32 * 28 * 28 and where == 'blocks.5.expand'


@pytest.mark.parametrize('arch, out_indices, patches, split, budget', [
    ('mbv2', (4, 13, 18), '4x4', 'auto', '256kB'),
    ('mcunetv2-det-m4', (5, 9, 13), 'auto', 'auto', '200kB'),
])
def test_config_schedule_is_what_patch_based_backbone_runs(tmp_path: Path, arch: str, out_indices: tuple,
                                                           patches: str, split: str, budget: str) -> None:
    """PatchBasedBackbone's defaults and 'auto' rules, read from a config, give the plan it executes."""
    from mcudet.models.backbones.patch_based import PatchBasedBackbone  # torch: only this test

    inner = dict(type='MCUNetV2Backbone', arch=arch, out_indices=out_indices)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'model = dict(backbone=dict(type="PatchBasedBackbone", patches={patches!r}, '
                   f'split={split!r}, budget={budget!r}, backbone={inner!r}))\n')
    data, _ = _profile(tmp_path, str(cfg))
    backbone = PatchBasedBackbone(inner, patches=patches, split=split, budget=budget)
    plan = backbone.plan_for(tuple(data['input_hw']))
    assert (data['split'], tuple(data['grid'])) == (plan.split, plan.grid)
    assert data['patch_peak_bytes'] == backbone.memory_report_for(plan.input_hw).patch_peak_bytes
