"""MAC and parameter counts against published figures; the summary table adds up."""
from __future__ import annotations

import pytest

from mcudet.arch import count_macs, count_params, format_summary, get_spec, summary

# figures.md, "MCUNet model zoo" (millions, classifier included).
PUBLISHED_MACS = [('mcunet-in0', 6.4), ('mcunet-in1', 12.8), ('mcunet-in2', 67.3), ('mcunet-in3', 81.8),
                  ('mcunet-in4', 125.9), ('mbv2-w0.35-r144', 23.5), ('proxyless-w0.3-r176', 38.3)]
# mit-han-lab/mcunet README, #Params column (millions; PyTorch count, BN not folded).
PUBLISHED_PARAMS = [('mcunet-in0', 0.75), ('mcunet-in1', 0.64), ('mcunet-in2', 0.73), ('mcunet-in3', 0.74),
                    ('mcunet-in4', 1.73), ('mbv2-w0.35-r144', 0.75), ('proxyless-w0.3-r176', 0.75)]


@pytest.mark.parametrize('name, published', PUBLISHED_MACS)
def test_published_macs(name: str, published: float) -> None:
    ours = count_macs(get_spec(name)) / 1e6
    assert abs(ours - published) <= 0.1, f'{name}: {ours:.3f}M MACs, published {published}M'


@pytest.mark.parametrize('name, published', PUBLISHED_PARAMS)
def test_published_params(name: str, published: float) -> None:
    ours = count_params(get_spec(name), fold_bn=False) / 1e6
    assert abs(ours - published) <= 0.005, f'{name}: {ours:.4f}M params, published {published}M'


def test_mobilenet_v2_w1() -> None:
    spec = get_spec('mbv2-w1.0')
    assert abs(count_macs(spec) / 1e6 - 300) < 1  # Sandler et al.: 300M; MCUNetV2 paper: 301M
    assert count_params(spec, fold_bn=False) == 3_504_872  # torchvision mobilenet_v2


def test_classifier_and_input_size_conventions() -> None:
    spec = get_spec('mcunet-in0')
    assert count_macs(spec) - count_macs(spec, include_classifier=False) == 192 * 1000
    assert count_params(spec) - count_params(spec, include_classifier=False) == 193 * 1000
    assert count_macs(spec, 96) == count_macs(spec, (96, 96)) == count_macs(spec.with_resolution(96))
    assert count_macs(spec, (96, 48)) < count_macs(spec, 96)
    headless = get_spec('mcunet-in0').__class__(**{**spec.__dict__, 'classifier': None})
    assert count_macs(headless) == count_macs(spec, include_classifier=False)


@pytest.mark.parametrize('name', ['mcunet-in2', 'mbv2-w0.35-r144', 'mbv2-rd'])
def test_summary_adds_up(name: str) -> None:
    spec = get_spec(name)
    rows = summary(spec, (spec.resolution, spec.resolution))
    assert sum(r.macs for r in rows) == count_macs(spec)
    assert sum(r.params for r in rows) == count_params(spec)
    assert sum(r.params for r in summary(spec, fold_bn=False)) == count_params(spec, fold_bn=False)
    assert rows[0].name == 'stem' and rows[0].in_shape == (3, spec.resolution, spec.resolution)
    assert rows[-1].name == 'classifier' and rows[-1].out_shape == (1000, 1, 1)
    for prev, cur in zip(rows, rows[1:]):
        assert prev.out_shape[0] == cur.in_shape[0]
    assert len(summary(spec, include_classifier=False)) == len(rows) - 1
    text = format_summary(rows)
    assert f'{count_macs(spec) / 1e6:.3f}' in text.splitlines()[-1]


def test_summary_row_ops() -> None:
    rows = summary(get_spec('mcunet-in0'))
    assert rows[0].op == 'conv3x3 s2'
    assert rows[2].op == 'MB4 k5 s2' and not rows[2].residual
    assert rows[3].residual
