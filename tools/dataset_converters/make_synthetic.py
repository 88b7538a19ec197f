"""Write a procedural detection set: ``voc`` (shapes, VOC layout) or ``wider`` (faces, WIDER FACE layout).

Examples::

    python tools/dataset_converters/make_synthetic.py voc data/synthetic_voc --num-trainval 400
    python tools/dataset_converters/make_synthetic.py wider data/synthetic_wider --img-size 320 240

The VOC set is ``OUT/VOCdevkit/VOC2007/...`` (classes: mcudet.datasets.SHAPE_CLASSES); the WIDER
set is ``OUT/WIDER_{train,val}/images``, ``OUT/wider_face_split/*_bbx_gt.txt`` and the official
evaluation files in ``OUT/ground_truth``.
"""
import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='kind', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('out_dir', help='output folder')
    common.add_argument('--img-size', type=int, nargs='+', metavar='N',
                        help='image side, or width height (voc: 160, wider: 256)')
    common.add_argument('--seed', type=int, default=0, help='seed of the set (default 0)')
    common.add_argument('--overwrite', action='store_true', help='write over an existing set')
    voc = sub.add_parser('voc', parents=[common], help='coloured shapes, Pascal VOC layout')
    voc.add_argument('--num-trainval', type=int, default=200, help='images in trainval.txt (200)')
    voc.add_argument('--num-test', type=int, default=50, help='images in test.txt (50)')
    voc.add_argument('--max-objects', type=int, default=4, help='shapes per image, 1..N (4)')
    voc.add_argument('--year', default='VOC2007', choices=['VOC2007', 'VOC2012'], help='VOCdevkit folder')
    wider = sub.add_parser('wider', parents=[common], help='faces, official WIDER FACE layout')
    wider.add_argument('--num-train', type=int, default=200, help='images in WIDER_train (200)')
    wider.add_argument('--num-val', type=int, default=50, help='images in WIDER_val (50)')
    wider.add_argument('--max-faces', type=int, default=6, help='faces per image, 0..N (6)')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mcudet.datasets import generate_synthetic_voc, generate_synthetic_wider
    size = None
    if args.img_size is not None:
        if len(args.img_size) not in (1, 2):
            raise SystemExit(f'--img-size {" ".join(map(str, args.img_size))}: give N or WIDTH HEIGHT')
        size = args.img_size[0] if len(args.img_size) == 1 else tuple(args.img_size)
    try:
        if args.kind == 'voc':
            summary = generate_synthetic_voc(args.out_dir, args.num_trainval, args.num_test, size or 160,
                                             args.max_objects, args.seed, args.year, args.overwrite)
        else:
            summary = generate_synthetic_wider(args.out_dir, args.num_train, args.num_val, size or 256,
                                               args.max_faces, args.seed, args.overwrite)
    except (FileExistsError, ValueError) as exc:
        raise SystemExit(f'make_synthetic: {exc}') from None
    print('\n'.join(summary.lines()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
