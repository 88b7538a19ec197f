"""ProxylessNAS / MCUNet JSON: official files equal the zoo, round trips, errors naming file and block."""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from mcudet.arch import SpecError, dump_proxyless, get_spec, load_proxyless, load_spec, save_proxyless
from mcudet.arch.zoo import ZOO_FILES, get_entry


@pytest.mark.parametrize('name', sorted(ZOO_FILES))
def test_official_json_equals_zoo_spec(name: str, mcunet_zoo_dir: Path) -> None:
    path = mcunet_zoo_dir / f'{ZOO_FILES[name]}.json'
    if not path.is_file():
        pytest.skip(f'{path} is not in the shared folder')
    loaded = load_proxyless(path, name=name)
    zoo = get_spec(name)
    assert loaded == zoo, f'zoo transcription of {name} differs from {path.name}'
    assert loaded.resolution == zoo.resolution
    for key in ('eps', 'momentum'):  # batch-norm settings travel in extra (not compared by ==)
        assert loaded.extra['bn'][key] == zoo.extra['bn'][key]
    # the file stem is an alias and load_spec detects the format from the keys
    assert get_spec(ZOO_FILES[name]) == zoo
    assert load_spec(path) == replace(zoo, name=path.stem)


def test_every_official_non_int4_file_is_in_the_zoo(mcunet_zoo_dir: Path) -> None:
    stems = sorted(p.stem for p in mcunet_zoo_dir.glob('*.json') if 'int4' not in p.stem)
    assert stems, f'no JSON files in {mcunet_zoo_dir}'
    missing = [s for s in stems if s not in ZOO_FILES.values()]
    assert not missing, f'official files without a zoo entry: {missing}'


@pytest.mark.parametrize('name', [n for n in sorted(ZOO_FILES) if n.startswith('mcunet-')])
def test_dump_reproduces_official_mcunet_file(name: str, mcunet_zoo_dir: Path) -> None:
    path = mcunet_zoo_dir / f'{ZOO_FILES[name]}.json'
    if not path.is_file():
        pytest.skip(f'{path} is not in the shared folder')
    assert dump_proxyless(get_spec(name)) == json.loads(path.read_text())


def test_zero_layer_blocks_are_dropped(mcunet_zoo_dir: Path) -> None:
    path = mcunet_zoo_dir / 'proxyless-w0.3-r176_imagenet.json'
    if not path.is_file():
        pytest.skip(f'{path} is not in the shared folder')
    raw = json.loads(path.read_text())
    zeros = [b for b in raw['blocks'] if b['mobile_inverted_conv']['name'] == 'ZeroLayer']
    spec = load_proxyless(path)
    assert len(zeros) == 2
    assert len(spec.blocks) == len(raw['blocks']) - 2


@pytest.mark.parametrize('name', sorted(ZOO_FILES) + ['mbv2-w1.0', 'mbv2-rd'])
def test_proxyless_round_trip(name: str, tmp_path: Path) -> None:
    spec = get_spec(name)
    assert load_proxyless(dump_proxyless(spec), name=name) == spec
    path = tmp_path / f'{name}.json'
    save_proxyless(spec, path)
    assert load_proxyless(path, name=name) == spec
    assert load_spec(path).blocks == spec.blocks


def test_no_skip_and_se_survive_the_round_trip() -> None:
    blocks = ['ir_k3_e1_c8_s1_noskip', 'ir_k5_e4_c16_s2_se0.25_relu']
    spec = load_spec({'stem': 'conv_k3_c8_s2', 'blocks': blocks, 'resolution': 64})
    raw = dump_proxyless(spec)
    assert raw['blocks'][0]['shortcut'] is None
    assert raw['blocks'][1]['mobile_inverted_conv']['use_se'] is True
    assert load_proxyless(raw, name=spec.name) == spec


def test_missing_act_and_se_use_proxyless_defaults() -> None:
    raw = dump_proxyless(get_spec('proxyless-w0.3-r176'))
    for b in raw['blocks']:
        del b['mobile_inverted_conv']['act_func'], b['mobile_inverted_conv']['use_se']
    assert load_proxyless(raw, name='proxyless-w0.3-r176') == get_spec('proxyless-w0.3-r176')


def test_dump_rejects_what_the_format_cannot_say() -> None:
    with pytest.raises(SpecError, match=r'blocks\[1\]\.se_ratio=0\.5'):
        blocks = ['ir_k3_e1_c8_s1', 'ir_k3_e6_c8_s1_se0.5']
        dump_proxyless(load_spec({'stem': 'conv_k3_c8_s2', 'blocks': blocks}))
    with pytest.raises(SpecError, match=r'blocks\[0\]\.shortcut=True'):
        dump_proxyless(load_spec({'stem': 'conv_k3_c8_s2', 'blocks': ['ir_k3_e6_c16_s2_skip']}))


# ---------------------------------------------------------------------- malformed input
@pytest.fixture
def in0_raw() -> dict:
    return dump_proxyless(get_spec('mcunet-in0'))


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / 'broken_net.json'
    path.write_text(json.dumps(raw))
    return path


def _error(tmp_path: Path, raw: dict) -> str:
    path = _write(tmp_path, raw)
    with pytest.raises(SpecError) as info:
        load_proxyless(path)
    msg = str(info.value)
    assert str(path) in msg, f'error does not name the file: {msg}'
    with pytest.raises(SpecError):  # same through the format-detecting entry point
        load_spec(path)
    return msg


def test_missing_field_names_file_and_block(tmp_path: Path, in0_raw: dict) -> None:
    del in0_raw['blocks'][2]['mobile_inverted_conv']['kernel_size']
    msg = _error(tmp_path, in0_raw)
    assert 'blocks[2]' in msg and "missing field 'kernel_size'" in msg


def test_missing_top_level_field(tmp_path: Path, in0_raw: dict) -> None:
    del in0_raw['resolution']
    assert "missing field 'resolution'" in _error(tmp_path, in0_raw)
    assert load_proxyless(in0_raw, resolution=64).resolution == 64


def test_bad_kernel_names_file_and_block(tmp_path: Path, in0_raw: dict) -> None:
    in0_raw['blocks'][5]['mobile_inverted_conv']['kernel_size'] = 4
    msg = _error(tmp_path, in0_raw)
    assert 'blocks[5]' in msg and 'kernel_size=4' in msg and '(1, 3, 5, 7)' in msg


def test_inconsistent_in_channels_names_file_and_blocks(tmp_path: Path, in0_raw: dict) -> None:
    in0_raw['blocks'][4]['mobile_inverted_conv']['in_channels'] = 99
    msg = _error(tmp_path, in0_raw)
    assert 'blocks[4]' in msg and 'in_channels=99' in msg and 'blocks[3]' in msg and '16 channels' in msg


def test_inconsistent_classifier_and_stem(tmp_path: Path, in0_raw: dict) -> None:
    bad = copy.deepcopy(in0_raw)
    bad['classifier']['in_features'] = 100
    assert 'classifier' in _error(tmp_path, bad) and 'in_features=100' in _error(tmp_path, bad)
    bad = copy.deepcopy(in0_raw)
    bad['first_conv']['out_channels'] = 32
    msg = _error(tmp_path, bad)
    assert 'blocks[0]' in msg and 'first_conv' in msg


@pytest.mark.parametrize('edit, expected', [
    (lambda r: r['blocks'][1]['mobile_inverted_conv'].update(name='MBConvLayerX'), "'MBConvLayerX'"),
    (lambda r: r['blocks'][1]['mobile_inverted_conv'].update(stride=3), 'stride=3'),
    (lambda r: r['blocks'][1]['mobile_inverted_conv'].update(expand_ratio='4'), "expand_ratio='4'"),
    (lambda r: r['blocks'][1]['mobile_inverted_conv'].update(act_func='swish'), "'swish'"),
    (lambda r: r['blocks'][1].update(shortcut=r['blocks'][2]['shortcut']), 'blocks[1].shortcut'),
    (lambda r: r['blocks'][2]['shortcut'].update(in_channels=[8]), 'blocks[2].shortcut'),
    (lambda r: r['blocks'][3].update(mobile_inverted_conv={'name': 'ZeroLayer', 'stride': 2}), 'ZeroLayer'),
    (lambda r: r['first_conv'].update(kernel_size=2), 'first_conv'),
    (lambda r: r.update(blocks='none'), 'blocks'),
])
def test_unsupported_values_are_reported(tmp_path: Path, in0_raw: dict, edit, expected: str) -> None:
    edit(in0_raw)
    assert expected in _error(tmp_path, in0_raw)


def test_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / 'truncated.json'
    path.write_text('{"first_conv": ')
    with pytest.raises(SpecError, match='truncated.json: not valid JSON'):
        load_proxyless(path)
    with pytest.raises(SpecError, match='truncated.json: not valid JSON'):
        load_spec(path)


def test_zoo_entries_cite_their_source() -> None:
    for name, stem in ZOO_FILES.items():
        assert stem in get_entry(name).source
