"""Block strings: canonical encoding, decoding, repeats, and errors that name the token."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcudet.arch import (
    BlockSpec,
    ConvSpec,
    SpecError,
    decode_block,
    decode_blocks,
    decode_conv,
    encode_block,
    encode_conv,
    get_spec,
    list_specs,
    spec_from_strings,
    spec_to_strings,
)
from mcudet.arch.spec import DW_KERNELS

ratios = st.one_of(st.integers(1, 8), st.floats(0.05, 16, allow_nan=False, allow_infinity=False))
blocks = st.builds(
    BlockSpec,
    out_channels=st.integers(1, 4096),
    kernel_size=st.sampled_from(DW_KERNELS),
    expand_ratio=ratios,
    stride=st.sampled_from((1, 2)),
    mid_channels=st.one_of(st.none(), st.integers(1, 4096)),
    se_ratio=st.one_of(st.just(0.0), st.floats(0.01, 1.0)),
    act=st.sampled_from(('relu', 'relu6', None)),
    shortcut=st.sampled_from((None, True, False)),
)
convs = st.builds(ConvSpec, out_channels=st.integers(1, 4096), kernel_size=st.sampled_from((1, 3, 5, 7)),
                  stride=st.sampled_from((1, 2)), act=st.sampled_from(('relu', 'relu6', None)))


@given(blocks)
def test_block_round_trip(block: BlockSpec) -> None:
    text = encode_block(block)
    assert decode_block(text) == block
    assert encode_block(decode_block(text)) == text  # the encoding is canonical


@given(convs)
def test_conv_round_trip(conv: ConvSpec) -> None:
    assert decode_conv(encode_conv(conv)) == conv


@given(st.lists(blocks, min_size=1, max_size=6))
def test_block_list_round_trip(block_list: list) -> None:
    assert decode_blocks([encode_block(b) for b in block_list]) == tuple(block_list)


def test_examples() -> None:
    assert decode_block('ir_k5_e4_c16_s2') == BlockSpec(16, 5, 4, 2)
    assert decode_block('ir_k3_e6_c24_s1_m144_se0.25_noskip_relu') == BlockSpec(
        24, 3, 6, 1, mid_channels=144, se_ratio=0.25, act='relu', shortcut=False)
    assert decode_block('ir_c24_relu6_e6_k3') == BlockSpec(24, 3, 6, 1)  # any order, s defaults to 1
    assert encode_block(BlockSpec(24, 3, 6, 1, act=None, shortcut=True)) == 'ir_k3_e6_c24_s1_skip_linear'
    assert decode_conv('conv_k3_c32_s2') == ConvSpec(32, 3, 2)
    assert encode_conv(ConvSpec(1280, 1, 1, 'relu')) == 'conv_k1_c1280_s1_relu'


def test_repeats_put_the_stride_on_the_first_block() -> None:
    got = decode_blocks(['ir_k3_e1_c16_s1', 'ir_k3_e6_c24_s2_r2', 'ir_k5_e6_c32_r3_s2_m48'])
    assert [b.stride for b in got] == [1, 2, 1, 2, 1, 1]
    assert [b.out_channels for b in got] == [16, 24, 24, 32, 32, 32]
    assert all(b.mid_channels == 48 for b in got[3:])


@pytest.mark.parametrize('text, expected', [
    ('ir_k4_e6_c16', 'k4 is not a supported depthwise kernel'),
    ('ir_k3_e6_c16_s3', 's3'),
    ('ir_k3_c16', 'missing e'),
    ('ir_k3_e6_c16_x2', "cannot read 'x2'"),
    ('ir_k3_e6_c16_k5', "option 'k' given twice"),
    ('ir_k3_e6_c16.5', 'c16.5 needs an integer'),
    ('ir_k3_e0_c16', 'e must be > 0'),
    ('ir_k3_e6_c16_relu_linear', 'more than one activation'),
    ('mb_k3_e6_c16', "unknown type 'mb'"),
    ('conv_k3_e6_c16', "option 'e' is not allowed in 'conv'"),
    ('conv_k2_c16', 'odd kernel'),
    ('conv_k3_c16_noskip', 'in "ir" blocks only'),
    ('ir_k3_e6_c16_r2', 'use decode_blocks()'),
    ('', 'expected text'),
])
def test_errors_name_the_string_and_token(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        decode_conv(text) if text.startswith('conv') else decode_block(text)
    assert expected in str(info.value)
    assert repr(text) in str(info.value)


def test_wrong_kind_is_reported() -> None:
    with pytest.raises(SpecError, match='expected a "conv_..." layer'):
        decode_conv('ir_k3_e6_c16')
    with pytest.raises(SpecError, match='expected an "ir_..." block'):
        decode_block('conv_k3_c16')


@pytest.mark.parametrize('name', list_specs())
def test_every_zoo_spec_round_trips_through_strings(name: str) -> None:
    spec = get_spec(name)
    assert spec_from_strings(**spec_to_strings(spec)) == spec
