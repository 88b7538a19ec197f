"""Build Visual Wake Words (person / no person) from COCO instance annotations, with pycocotools.

Example (the standard split: COCO 2014 train + val, minus the 8059 "minival" images that form the
validation set; the id list is ``research/object_detection/data/mscoco_minival_ids.txt`` of
tensorflow/models)::

    python tools/dataset_converters/build_vww.py data/coco data/vww \\
        --train-ann annotations/instances_train2014.json \\
        --val-ann annotations/instances_val2014.json \\
        --minival-ids mscoco_minival_ids.txt

An image is labelled ``person`` (1) when at least one person box covers at least ``--threshold``
(0.5 %) of the image area, else ``no_person`` (0): the rule of Chowdhery et al. 2019 (Visual Wake
Words). Without ``--minival-ids`` the images of ``--val-ann`` form the validation set (e.g. an
already split ``instances_minival.json``, or COCO 2017 val, which is not the standard split).

Output, the layout ``dict(type='VisualWakeWords', data_root=OUT, split='train')`` reads::

    OUT/meta/train.txt     train2014/COCO_train2014_000000000009.jpg 0   (path label, per line)
    OUT/meta/val.txt
    OUT/meta/classes.txt   no_person, person
    OUT/images             a link to COCO_ROOT (--images link), a copy of the listed images
                           (--images copy) or nothing (--images none: set data_prefix yourself)
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

CLASSES = ('no_person', 'person')
_COCO_NAME = re.compile(r'^COCO_([a-z]+\d{4})_\d+\.\w+$')


@dataclass(frozen=True)
class VWWImage:
    """One image of the set: COCO id, path relative to the COCO root, label."""

    image_id: int
    path: str
    label: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split('\n', 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('coco_root', help='COCO folder (holds the image folders, e.g. train2014/)')
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--train-ann', action='append', default=None, metavar='JSON',
                        help='COCO instances JSON of training images (repeatable; relative to COCO_ROOT '
                             'unless absolute). Default annotations/instances_train2014.json')
    parser.add_argument('--val-ann', action='append', default=None, metavar='JSON',
                        help='COCO instances JSON of validation images (repeatable). '
                             'Default annotations/instances_val2014.json')
    parser.add_argument('--minival-ids', metavar='TXT',
                        help='image ids of the validation set, one per line (mscoco_minival_ids.txt); the '
                             'other images of every JSON go to training')
    parser.add_argument('--threshold', type=float, default=0.005,
                        help='smallest person box area as a fraction of the image area (0.005)')
    parser.add_argument('--foreground-class', default='person', help='COCO category of label 1 (person)')
    parser.add_argument('--images', choices=('link', 'copy', 'none'), default='link',
                        help='OUT/images: a symbolic link to COCO_ROOT (default), a copy of the listed '
                             'images, or nothing')
    parser.add_argument('--overwrite', action='store_true', help='write over an existing OUT/meta')
    return parser.parse_args(argv)


def image_folder(file_name: str, default: str) -> str:
    """Path of a COCO ``file_name`` relative to the COCO root.

    A name with a folder is kept; ``COCO_val2014_000000000042.jpg`` lives in ``val2014/`` (this
    also places the images of a merged train + val JSON); other names go to ``default``.
    """
    if '/' in file_name:
        return file_name
    m = _COCO_NAME.match(file_name)
    return f'{m.group(1) if m else default}/{file_name}'


def default_image_dir(ann_file: str) -> str:
    """``instances_train2014.json`` -> ``train2014``."""
    stem = osp.splitext(osp.basename(ann_file))[0]
    return stem[len('instances_'):] if stem.startswith('instances_') else stem


def label_images(ann_file: str, threshold: float = 0.005, foreground: str = 'person') -> list[VWWImage]:
    """Every image of one COCO instances JSON with its Visual Wake Words label."""
    from pycocotools.coco import COCO
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'{ann_file}: no such annotation file')
    coco = COCO(ann_file)
    cat_ids = coco.getCatIds(catNms=[foreground])
    if not cat_ids:
        names = sorted(c['name'] for c in coco.loadCats(coco.getCatIds()))
        raise ValueError(f'{ann_file}: no category named {foreground!r}; categories: {names[:20]}')
    folder = default_image_dir(ann_file)
    images = []
    for img_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(img_id)[0]
        area = float(info['width']) * float(info['height'])
        if area <= 0:
            raise ValueError(f'{ann_file}: image {img_id} ({info.get("file_name")}) has size '
                             f'{info["width"]}x{info["height"]}')
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id, catIds=cat_ids, iscrowd=None))
        boxes = (a['bbox'][2] * a['bbox'][3] for a in anns)
        label = int(any(b >= threshold * area for b in boxes))
        images.append(VWWImage(img_id, image_folder(info['file_name'], folder), label))
    return images


def read_ids(path: str) -> set[int]:
    """Image ids, one per line."""
    ids = set()
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    ids.add(int(line))
                except ValueError:
                    raise ValueError(f'{path}:{lineno}: expected an image id, got {line.strip()!r}') from None
    return ids


def split_images(train: Iterable[VWWImage], val: Iterable[VWWImage],
                 minival_ids: set[int] | None) -> tuple[list[VWWImage], list[VWWImage], int]:
    """(train, val, ids of ``minival_ids`` found in no JSON); ids must be unique across the JSONs."""
    train, val = list(train), list(val)
    seen: dict[int, str] = {}
    for img in train + val:
        if img.image_id in seen:
            raise ValueError(f'image id {img.image_id} appears twice ({seen[img.image_id]} and {img.path}); '
                             'give each COCO JSON once')
        seen[img.image_id] = img.path
    if minival_ids is None:
        return train, val, 0
    everything = sorted(train + val, key=lambda i: i.image_id)
    out_train = [i for i in everything if i.image_id not in minival_ids]
    out_val = [i for i in everything if i.image_id in minival_ids]
    return out_train, out_val, len(minival_ids - seen.keys())


def atomic_write_text(path: str, text: str) -> None:
    """Write next to ``path`` and rename: an interrupted run leaves no truncated list."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), prefix='.' + osp.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8', newline='\n') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_lists(out_dir: str, splits: dict[str, list[VWWImage]]) -> None:
    """``meta/classes.txt`` and ``meta/<split>.txt`` (``path label`` per line)."""
    meta = osp.join(out_dir, 'meta')
    atomic_write_text(osp.join(meta, 'classes.txt'), ''.join(c + '\n' for c in CLASSES))
    for name, images in splits.items():
        atomic_write_text(osp.join(meta, f'{name}.txt'), ''.join(f'{i.path} {i.label}\n' for i in images))


def place_images(mode: str, coco_root: str, out_dir: str, images: Iterable[VWWImage]) -> int:
    """Make OUT/images; returns how many listed images are missing under COCO_ROOT."""
    target = osp.join(out_dir, 'images')
    if mode == 'none':
        return 0
    images = list(images)
    missing = [i.path for i in images if not osp.isfile(osp.join(coco_root, i.path))]
    if mode == 'link':
        if osp.lexists(target):
            if not osp.islink(target) or osp.realpath(target) != osp.realpath(coco_root):
                raise FileExistsError(f'{target} exists and is not a link to {coco_root}; remove it or use '
                                      '--images none')
        else:
            os.symlink(osp.abspath(coco_root), target, target_is_directory=True)
        return len(missing)
    if missing:
        raise FileNotFoundError(f'{len(missing)} listed images are missing under {coco_root}, e.g. '
                                f'{missing[:3]}; check COCO_ROOT and the image folders')
    for img in images:
        dst = osp.join(target, img.path)
        if not osp.isfile(dst):
            os.makedirs(osp.dirname(dst), exist_ok=True)
            shutil.copy2(osp.join(coco_root, img.path), dst)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not 0 <= args.threshold < 1:
        raise SystemExit(f'--threshold {args.threshold}: give a fraction of the image area in [0, 1)')
    root = args.coco_root

    def resolve(paths: list[str] | None, default: str) -> list[str]:
        return [p if osp.isabs(p) else osp.join(root, p) for p in (paths or [default])]

    if osp.exists(osp.join(args.out_dir, 'meta', 'train.txt')) and not args.overwrite:
        raise SystemExit(f'build_vww: {args.out_dir} already holds a set; pass --overwrite to replace it')
    try:
        minival = read_ids(args.minival_ids) if args.minival_ids else None
        train = [i for f in resolve(args.train_ann, 'annotations/instances_train2014.json')
                 for i in label_images(f, args.threshold, args.foreground_class)]
        val = [i for f in resolve(args.val_ann, 'annotations/instances_val2014.json')
               for i in label_images(f, args.threshold, args.foreground_class)]
        train, val, unknown = split_images(train, val, minival)
        write_lists(args.out_dir, dict(train=train, val=val))
        missing = place_images(args.images, root, args.out_dir, train + val)
    except (OSError, ValueError) as e:
        raise SystemExit(f'build_vww: {e}') from None
    for name, images in (('train', train), ('val', val)):
        persons = sum(i.label for i in images)
        print(f'{name}: {len(images)} images, {persons} person, {len(images) - persons} no_person')
    if minival is None:
        print('note: no --minival-ids given, so val is every image of --val-ann (not the standard minival '
              'split unless that JSON is the minival set)')
    elif unknown:
        print(f'warning: {unknown} of the {len(minival)} minival ids are in none of the JSON files')
    if missing:
        print(f'warning: {missing} listed images are not under {root}')
    print(f'wrote {osp.join(args.out_dir, "meta")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
