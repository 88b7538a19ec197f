"""Per-block activation memory, per-layer vs patch-based (MCUNetV2), as a table, JSON and a plot.

Usage::

    python tools/analysis_tools/memory_profile.py SPEC_OR_CONFIG [--input-size 224 | 224x160]
        [--patches 4x4 | auto] [--split 5] [--sweep] [--budget 256kB] [--json OUT.json] [--plot OUT.png]

SPEC_OR_CONFIG is a zoo name (``mbv2``, ``mcunet-in2``, ``mcunetv2-det-m4``), an ArchSpec or
ProxylessNAS ``.json`` file, or an mmengine config ``.py`` whose ``model.backbone`` is an
``MCUNetV2Backbone`` (or a ``PatchBasedBackbone`` around one, whose ``patches`` / ``split``
and ``budget`` / ``input_size`` are used unless given here, with that module's defaults and its
meaning of ``split='auto'``). The config is read, not built: no torch is imported.

Numbers follow the paper's analytic convention (``mcudet/patch/memory.py``): int8
activations, weights in flash; the patch-based peak does not count the input frame (it is
streamed patch by patch); the peak with the frame resident is printed beside it.
Without ``--patches`` only the per-layer schedule is profiled, plus a hint from the schedule
search. Errors (unknown name, bad --patches, split out of range) exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from mcudet.arch.spec import SpecError
from mcudet.patch.profile import (
    ProfileError,
    format_summary,
    format_sweep,
    format_table,
    make_profile,
    parse_bytes,
    parse_input_size,
    parse_patches,
    plot_profile,
    profile_to_dict,
    resolve_target,
    write_json,
)
from mcudet.patch.receptive import PatchPlanError

PROG = 'memory_profile.py'


def _arg(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that shows our message instead of 'invalid value'."""
    def wrapped(text: str) -> Any:
        try:
            return parse(text)
        except ProfileError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    wrapped.__name__ = parse.__name__
    return wrapped


def _split(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ProfileError(f'split {text!r}: give a number of units (e.g. 5 = stem + 4 blocks)') from None
    if value < 1:
        raise ProfileError(f'split {value}: use at least 1 (split=K runs units 0..K-1 per patch)')
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description='Per-block activation memory of a network, per-layer vs patch-based '
        '(analytic, int8, paper convention: input frame streamed).')
    parser.add_argument('target', metavar='SPEC_OR_CONFIG',
                        help='zoo name, ArchSpec/ProxylessNAS .json, or mmengine config .py')
    parser.add_argument('--input-size', type=_arg(parse_input_size), metavar='H[xW]',
                        help='input side or HEIGHTxWIDTH (default: the spec\'s input size)')
    parser.add_argument('--patches', type=_arg(parse_patches), metavar='RxC|auto',
                        help='patch grid, e.g. 4x4; auto = cheapest schedule under --budget')
    parser.add_argument('--split', type=_arg(_split), metavar='K',
                        help='units run per patch (stem = unit 0; default: the spec\'s recorded split, '
                        'else up to the first stride-8 unit)')
    parser.add_argument('--budget', type=_arg(parse_bytes), metavar='SIZE',
                        help='SRAM budget for auto, the fit check, the hint and --sweep (default: the '
                        'PatchBasedBackbone config\'s budget, else 256kB; kB = 1024 B)')
    parser.add_argument('--sweep', action='store_true', help='print the (split, grid) trade-off table')
    parser.add_argument('--json', metavar='OUT.json', help='write the profile as JSON')
    parser.add_argument('--plot', metavar='OUT.png', help='write a per-block bar chart (paper Fig. 1 style)')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        target = resolve_target(args.target)
        profile = make_profile(target, args.input_size, args.patches, args.split, args.budget)
    except (ProfileError, SpecError, PatchPlanError) as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    print(format_table(profile))
    print()
    print(format_summary(profile))
    if args.sweep:
        print()
        print(format_sweep(profile))
    if args.json:
        print(f'wrote {write_json(args.json, profile_to_dict(profile, sweep=args.sweep))}')
    if args.plot:
        print(f'wrote {plot_profile(profile, args.plot)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
