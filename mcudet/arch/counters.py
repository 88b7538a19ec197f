"""MAC and parameter counts of an ArchSpec, and a per-unit summary table.

Conventions (those of the MCUNet / ProxylessNAS zoo tables and of the MobileNetV2 paper, whose
numbers they reproduce within 0.1M):

* MACs count the multiply-accumulates of every convolution (dense, depthwise, 1x1) on the full
  input, the two fully connected layers of a squeeze-excite block, and the classifier
  (``in_features * num_classes``). Batch norm (folded), activations, residual adds and the global
  average pool are not counted. Example: mcunet-in0 at 48x48 is 6.17M without the classifier and
  6.36M with it; the zoo publishes 6.4M, so the published figures include the classifier.
* Parameters are the deployed count by default: weights plus one folded-BN bias per output
  channel (SE and classifier layers keep their own biases). ``fold_bn=False`` gives the PyTorch
  training count instead (conv weights plus BN weight and bias per channel; BN running statistics
  are buffers, not parameters).

No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .graph import Layer, Unit, build_units
from .spec import ArchSpec, SpecError

HW = Union[int, tuple[int, int], None]


@dataclass(frozen=True)
class SummaryRow:
    """One row of :func:`summary`: a unit (stem, block, feature mix) or the classifier.

    Shapes are (channels, height, width); the classifier row has (C, 1, 1) -> (classes, 1, 1).
    """

    index: int
    name: str
    op: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    macs: int
    params: int
    residual: bool = False


def _input_hw(spec: ArchSpec, input_hw: HW) -> tuple[int, int]:
    if input_hw is None:
        return (spec.resolution, spec.resolution)
    hw = (input_hw, input_hw) if isinstance(input_hw, int) else tuple(input_hw)
    if len(hw) != 2 or min(hw) < 1:
        raise SpecError(f'input_hw={input_hw!r}; give a positive side or an (height, width) pair')
    return hw


def _layer_params(layer: Layer, fold_bn: bool) -> int:
    if fold_bn or layer.kind == 'se':
        return layer.params
    return layer.params + layer.out_channels  # folded bias -> BN weight + bias


def _unit_params(unit: Unit, fold_bn: bool) -> int:
    return sum(_layer_params(layer, fold_bn) for layer in unit.layers)


def _classifier_macs(spec: ArchSpec) -> int:
    return spec.out_channels * spec.classifier.num_classes if spec.classifier else 0


def _classifier_params(spec: ArchSpec) -> int:
    return (spec.out_channels + 1) * spec.classifier.num_classes if spec.classifier else 0


def count_macs(spec: ArchSpec, input_hw: HW = None, include_classifier: bool = True) -> int:
    """Multiply-accumulates of one forward pass (conventions in the module docstring).

    Args:
        spec: The network.
        input_hw: Input side or (height, width); default: ``spec.resolution``.
        include_classifier: Add ``in_features * num_classes`` of the classifier, if any.
    """
    macs = sum(unit.macs for unit in build_units(spec, _input_hw(spec, input_hw)))
    return macs + (_classifier_macs(spec) if include_classifier else 0)


def count_params(spec: ArchSpec, include_classifier: bool = True, fold_bn: bool = True) -> int:
    """Parameter count (independent of the input size).

    Args:
        spec: The network.
        include_classifier: Add the classifier's weights and biases, if any.
        fold_bn: Deployed count (one bias per BN channel) if True, PyTorch training count if False.
    """
    units = build_units(spec, (spec.resolution, spec.resolution))
    params = sum(_unit_params(unit, fold_bn) for unit in units)
    return params + (_classifier_params(spec) if include_classifier else 0)


def _op(spec: ArchSpec, unit: Unit) -> str:
    if unit.name == 'stem' or unit.name == 'feature_mix':
        conv = spec.stem if unit.name == 'stem' else spec.feature_mix
        return f'conv{conv.kernel_size}x{conv.kernel_size} s{conv.stride}'
    b = spec.blocks[unit.index - 1]
    mid = b.hidden_channels(unit.in_channels)
    op = f'MB{b.expand_ratio:g} k{b.kernel_size} s{b.stride}'
    if b.mid_channels is not None and mid != int(round(unit.in_channels * b.expand_ratio)):
        op += f' m{mid}'
    return op + (' SE' if b.se_channels(unit.in_channels) else '')


def summary(spec: ArchSpec, input_hw: HW = None, include_classifier: bool = True,
            fold_bn: bool = True) -> list[SummaryRow]:
    """Per-unit rows (stem, blocks, feature mix, then the classifier) whose sums match the counters.

    Args:
        spec: The network.
        input_hw: Input side or (height, width); default: ``spec.resolution``.
        include_classifier: Append a row for global pooling + the classifier.
        fold_bn: Parameter convention, as in :func:`count_params`.
    """
    rows = []
    units = build_units(spec, _input_hw(spec, input_hw))
    for unit in units:
        rows.append(SummaryRow(unit.index, unit.name, _op(spec, unit),
                               (unit.in_channels, *unit.in_hw), (unit.out_channels, *unit.out_hw),
                               unit.macs, _unit_params(unit, fold_bn), unit.residual))
    if include_classifier and spec.classifier is not None:
        last = units[-1]
        rows.append(SummaryRow(len(units), 'classifier', 'pool+fc', (last.out_channels, *last.out_hw),
                               (spec.classifier.num_classes, 1, 1), _classifier_macs(spec),
                               _classifier_params(spec)))
    return rows


def format_summary(rows: list[SummaryRow]) -> str:
    """A plain-text table of :func:`summary` rows with a total line (for CLIs and logs)."""
    def shape(s: tuple[int, int, int]) -> str:
        return f'{s[0]}x{s[1]}x{s[2]}'

    header = ('#', 'name', 'op', 'input', 'output', 'MACs (M)', 'params (k)', 'res')
    body = [(str(r.index), r.name, r.op, shape(r.in_shape), shape(r.out_shape), f'{r.macs / 1e6:.3f}',
             f'{r.params / 1e3:.1f}', 'y' if r.residual else '') for r in rows]
    total = ('', 'total', '', '', '', f'{sum(r.macs for r in rows) / 1e6:.3f}',
             f'{sum(r.params for r in rows) / 1e3:.1f}', '')
    table = [header, *body, total]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = {0, 5, 6}
    lines = ['  '.join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             .rstrip() for row in table]
    rule = '-' * len(lines[0])
    return '\n'.join([lines[0], rule, *lines[1:-1], rule, lines[-1]])
