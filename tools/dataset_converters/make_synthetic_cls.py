"""Write the procedural person / no-person set in the Visual Wake Words layout.

Example::

    python tools/dataset_converters/make_synthetic_cls.py data/synthetic_vww --num-train 400 --num-val 100

It writes ``OUT/images/{train,val}/*.png``, ``OUT/meta/{train,val}.txt`` (``path label``, 1 = person)
and ``OUT/meta/classes.txt``: the layout ``tools/dataset_converters/build_vww.py`` gives the real
Visual Wake Words, read by ``dict(type='VisualWakeWords', data_root=OUT, split='train')``.
"""
import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--num-train', type=int, default=400, help='training images (400)')
    parser.add_argument('--num-val', type=int, default=100, help='validation images (100)')
    parser.add_argument('--img-size', type=int, default=80, help='image side in pixels (80)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the set (default 0)')
    parser.add_argument('--overwrite', action='store_true', help='write over an existing set')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mcudet.datasets import generate_synthetic_cls
    try:
        summary = generate_synthetic_cls(args.out_dir, args.num_train, args.num_val, args.img_size, args.seed,
                                         args.overwrite)
    except (FileExistsError, ValueError) as exc:
        raise SystemExit(f'make_synthetic_cls: {exc}') from None
    print('\n'.join(summary.lines()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
