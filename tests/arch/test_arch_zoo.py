"""The zoo: every name builds and validates, aliases, load_spec dispatch, MbV2-RD structure."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcudet.arch import (
    ArchSpec,
    SpecError,
    build_units,
    get_entry,
    get_spec,
    list_specs,
    load_spec,
    mobilenet_v2,
    register_spec,
)

REQUIRED = ('mbv2-w0.35', 'mbv2-w0.5', 'mbv2-w1.0', 'mbv2-rd', 'mcunet-in0', 'mcunet-in1', 'mcunet-in2',
            'mcunet-in3', 'mcunet-in4', 'mbv2-w0.35-r144', 'proxyless-w0.3-r176')
FILE_ALIASES = {'mcunet-in0': 'mcunet-10fps_imagenet', 'mcunet-in1': 'mcunet-5fps_imagenet',
                'mcunet-in2': 'mcunet-256kb-1mb_imagenet', 'mcunet-in3': 'mcunet-320kb-1mb_imagenet',
                'mcunet-in4': 'mcunet-512kb-2mb_imagenet', 'mbv2-w0.35-r144': 'mbv2-w0.35-r144_imagenet',
                'proxyless-w0.3-r176': 'proxyless-w0.3-r176_imagenet'}


def test_required_names_are_registered() -> None:
    assert set(REQUIRED) <= set(list_specs())
    assert set(FILE_ALIASES.values()) <= set(list_specs(include_aliases=True))


@pytest.mark.parametrize('name', list_specs())
def test_zoo_spec_builds_and_validates(name: str) -> None:
    spec = get_spec(name)
    assert isinstance(spec, ArchSpec) and spec.name == name
    spec.validate()
    units = build_units(spec)
    assert units[-1].out_hw[0] >= 1
    assert get_spec(name) == spec and get_spec(name) is not spec  # fresh object per lookup


@pytest.mark.parametrize('name', list_specs())
def test_archspec_json_round_trip(name: str, tmp_path: Path) -> None:
    spec = get_spec(name)
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec and again.extra == spec.extra
    path = tmp_path / 'spec.json'
    path.write_text(spec.to_json())
    assert load_spec(path) == spec
    assert load_spec(str(path)) == spec


@pytest.mark.parametrize('name, alias', sorted(FILE_ALIASES.items()))
def test_file_stems_are_aliases(name: str, alias: str) -> None:
    assert get_spec(alias) == get_spec(name)
    assert get_spec(alias).name == name


def test_resolutions_come_from_the_files() -> None:
    got = {n: get_spec(n).resolution for n in FILE_ALIASES}
    assert got == {'mcunet-in0': 48, 'mcunet-in1': 96, 'mcunet-in2': 160, 'mcunet-in3': 176,
                   'mcunet-in4': 160, 'mbv2-w0.35-r144': 144, 'proxyless-w0.3-r176': 176}
    assert {get_spec(n).resolution for n in ('mbv2-w0.35', 'mbv2-w0.5', 'mbv2-w1.0', 'mbv2-rd')} == {224}


def test_builder_matches_transcribed_mbv2() -> None:
    assert mobilenet_v2(0.35, 144, name='mbv2-w0.35-r144') == get_spec('mbv2-w0.35-r144')
    assert mobilenet_v2(0.3, 80, name='mbv2-w0.3-r80') == get_spec('mbv2-w0.3-r80')


def _input_patch(spec: ArchSpec, split: int, grid: int) -> int:
    """Receptive-field recursion of figures.md over the first ``split`` units."""
    units = build_units(spec)[:split]
    g = units[-1].out_hw[0] // grid
    for unit in reversed(units):
        for layer in reversed(unit.layers):
            if layer.kind == 'se' or layer.kernel_size == 1 and layer.stride == 1:
                continue
            g = g + layer.kernel_size - 1 if layer.stride == 1 else 2 * (g - 1) + layer.kernel_size
    return g


def test_mbv2_rd_structure_and_input_patch() -> None:
    rd = get_spec('mbv2-rd')
    assert (rd.stem.out_channels, rd.stem.kernel_size, rd.stem.stride) == (32, 3, 2)
    head = [(b.expand_ratio, b.kernel_size, b.stride, b.out_channels) for b in rd.blocks[:3]]
    assert head == [(1, 1, 1, 16), (6, 3, 2, 24), (6, 3, 2, 32)]
    tail = rd.blocks[3:]
    assert len(tail) == 15 and all(b.expand_ratio == 6 and b.kernel_size == 3 for b in tail)
    assert [b.out_channels for b in tail] == [32] * 3 + [64] * 4 + [96] * 3 + [160] * 4 + [320]
    assert [i for i, b in enumerate(tail) if b.stride == 2] == [3, 10]
    assert rd.feature_mix.out_channels == 1280
    assert build_units(rd)[4].out_hw == (28, 28)
    assert _input_patch(rd, split=4, grid=4) == 63
    assert _input_patch(get_spec('mbv2-w1.0'), split=5, grid=4) == 75  # figures.md, MobileNetV2


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(SpecError, match="no spec named 'mcunet-in9'.*did you mean.*'mcunet-in"):
        get_spec('mcunet-in9')
    with pytest.raises(SpecError, match='no spec named'):
        load_spec('not-a-model')
    with pytest.raises(SpecError, match='cannot read the spec file'):
        load_spec('does/not/exist.json')
    with pytest.raises(SpecError, match='cannot build a spec from int'):
        load_spec(3)


def test_load_spec_dispatch(tmp_path: Path) -> None:
    spec = get_spec('mcunet-in1')
    assert load_spec(spec) is spec
    assert load_spec('mcunet-in1', resolution=128).resolution == 128
    assert load_spec(spec.to_dict()) == spec
    strings = {'stem': 'conv_k3_c16_s2', 'blocks': ['ir_k3_e1_c8_s1', 'ir_k3_e6_c16_s2_r2'], 'num_classes': 2}
    small = load_spec(strings)
    assert len(small.blocks) == 3 and small.classifier.num_classes == 2
    path = tmp_path / 'other.json'
    path.write_text(json.dumps({'layers': []}))
    with pytest.raises(SpecError, match=r"other.json: neither an ArchSpec.*found keys \['layers'\]"):
        load_spec(path)
    path.write_text(json.dumps({'name': 'x', 'stem': {'out_channels': 8}}))
    with pytest.raises(SpecError, match=r"other.json: missing field 'blocks'"):
        load_spec(path)


@pytest.mark.parametrize('edit, expected', [
    (lambda d: d['blocks'][3].pop('out_channels'), "blocks[3]: BlockSpec.__init__() missing 1 required"),
    (lambda d: d['blocks'][3].update(kernel_size=4), 'blocks[3].kernel_size=4'),
    (lambda d: d['stem'].update(stride=3), 'stem.stride=3'),
    (lambda d: d.pop('stem'), "missing field 'stem'"),
])
def test_archspec_json_errors_name_file_and_field(tmp_path: Path, edit, expected: str) -> None:
    d = get_spec('mcunet-in0').to_dict()
    edit(d)
    path = tmp_path / 'my_net.json'
    path.write_text(json.dumps(d))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_block_string_dict_errors_name_the_source() -> None:
    with pytest.raises(SpecError, match=r"<dict>: block string 'ir_k4_e6_c16'"):
        load_spec({'stem': 'conv_k3_c16_s2', 'blocks': ['ir_k4_e6_c16']})
    with pytest.raises(SpecError, match="<dict>: .*unexpected keyword argument 'width'"):
        load_spec({'stem': 'conv_k3_c16_s2', 'blocks': ['ir_k3_e6_c16'], 'width': 2})


def test_register_refuses_duplicates() -> None:
    with pytest.raises(SpecError, match='already registered'):
        register_spec('mcunet-in0', lambda: get_spec('mcunet-in1'))
    assert get_entry('mcunet-in0').published_macs == 6.4
