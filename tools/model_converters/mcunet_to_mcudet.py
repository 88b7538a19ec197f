#!/usr/bin/env python
"""Convert an official MCUNet / ProxylessNAS checkpoint to mcudet's module names.

Example::

    python tools/model_converters/mcunet_to_mcudet.py \\
        mcunet-256kb-1mb_imagenet.pth work_dirs/mcunet-in2_mcudet.pth \\
        --arch ../shared/reference/mcunet_zoo/mcunet-256kb-1mb_imagenet.json

The output is ``{'state_dict': {'backbone.*': ..., 'head.fc.*': ...}, 'meta': {...}}``;
a config loads the backbone with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
import tempfile
from pathlib import Path

import torch

from mcudet.models.backbones.convert import (
    CheckpointMismatchError,
    convert_mcunet_state_dict,
    extract_state_dict,
    official_block_indices,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='official checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--arch', required=True,
                        help='the official JSON the checkpoint was trained with, or a zoo name')
    parser.add_argument('--allow-pickle', action='store_true',
                        help='load SRC with weights_only=False (runs arbitrary code from the file: '
                             'only for files you trust); needed when SRC holds more than tensors')
    return parser.parse_args(argv)


def load_foreign(path: Path, allow_pickle: bool) -> object:
    """``torch.load`` a checkpoint we did not write, safely unless told otherwise."""
    if not path.is_file():
        raise SystemExit(f'error: {path} does not exist')
    try:
        return torch.load(path, map_location='cpu', weights_only=not allow_pickle)
    except pickle.UnpicklingError as e:
        if allow_pickle:
            raise SystemExit(f'error: cannot read {path} as a PyTorch checkpoint ({e})') from None
        m = re.search(r'WeightsUnpickler error:\s*(\S[^\n]*)', str(e))
        reason = m.group(1)[:200] if m else str(e).splitlines()[0]
        raise SystemExit(f'error: {path} cannot be loaded with weights_only=True: {reason}\n'
                         'It holds objects other than tensors and plain containers (or is no checkpoint). '
                         'If you trust the file, re-run with --allow-pickle.') from None
    except (RuntimeError, EOFError, OSError) as e:
        raise SystemExit(f'error: cannot read {path} as a PyTorch checkpoint ({e})') from None


def save_atomic(obj: object, dst: Path) -> None:
    """Write next to ``dst`` and rename, so an interrupted run never leaves a partial file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{dst.name}.', suffix='.tmp', dir=dst.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    src, dst = Path(args.src), Path(args.dst)
    try:
        sd = extract_state_dict(load_foreign(src, args.allow_pickle))
    except TypeError as e:
        raise SystemExit(f'error: {src}: {e}') from None
    try:
        backbone, head = convert_mcunet_state_dict(sd, args.arch)
    except CheckpointMismatchError as e:
        raise SystemExit(f'error: {src} vs --arch {args.arch}: {e}') from None
    from mcudet.models.backbones.mcunetv2 import resolve_arch
    spec = resolve_arch(args.arch)
    state_dict = {f'backbone.{k}': v for k, v in backbone.items()}
    state_dict.update({f'head.{k}': v for k, v in head.items()})
    meta = dict(arch=spec.to_dict(), source=str(src), converter='tools/model_converters/mcunet_to_mcudet.py',
                official_blocks=official_block_indices(args.arch, sd))
    save_atomic(dict(state_dict=state_dict, meta=meta), dst)
    print(f'{src} -> {dst}: {spec.name}, {len(backbone)} backbone tensors, {len(head)} head tensors')
    return 0


if __name__ == '__main__':
    sys.exit(main())
