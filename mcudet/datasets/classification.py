"""Classification datasets with mmpretrain's names and layouts, and a procedural two-class set.

Two layouts are read (mmpretrain's ``CustomDataset``):

- annotation list: ``ann_file`` holds one ``relative/path.jpg label`` per line (label = class
  index); paths are relative to ``data_prefix``. ImageNet's ``meta/{train,val}.txt`` and the
  Visual Wake Words lists written by ``tools/dataset_converters/build_vww.py`` are such files.
- folders: without ``ann_file``, every sub-folder of ``data_prefix`` is a class
  (``train/n01440764/*.JPEG``), in sorted order unless ``classes`` gives the order.

:func:`generate_synthetic_cls` writes a small person / no-person set in the Visual Wake Words
layout for the demo and the end-to-end tests.
"""
from __future__ import annotations

import io
import os
import os.path as osp
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np
from mmengine.dataset import BaseDataset
from PIL import Image, ImageDraw

from mcudet.registry import DATASETS

from .report import AnnotationError, atomic_write_bytes, atomic_write_text
from .synthetic import SHAPE_CLASSES, SyntheticSummary, _shape_polygon, textured_background

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
VWW_CLASSES = ('no_person', 'person')


def read_class_names(path: str) -> tuple[str, ...]:
    """Class names from a text file, one per line (blank lines skipped)."""
    try:
        with open(path, encoding='utf-8') as f:
            names = tuple(line.strip() for line in f if line.strip())
    except OSError as e:
        raise FileNotFoundError(f'classes file {path}: cannot read it ({e.strerror})') from None
    if not names:
        raise AnnotationError(f'classes file {path} lists no class names; write one name per line')
    return names


def parse_ann_list(path: str, with_label: bool = True,
                   num_classes: Optional[int] = None) -> list[tuple[str, Optional[int]]]:
    """``(relative path, label)`` per line of an mmpretrain annotation list (``path label``)."""
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise FileNotFoundError(f'annotation file {path}: cannot read it ({e.strerror}); check data_root '
                                'and ann_file') from None
    samples: list[tuple[str, Optional[int]]] = []
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if not with_label:
            samples.append((text, None))
            continue
        parts = text.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
            raise AnnotationError(f'{path}:{lineno}: expected "relative/path.jpg LABEL" (LABEL a class '
                                  f'index), got {text!r}; use with_label=False for a list of paths only')
        label = int(parts[1])
        if label < 0 or (num_classes is not None and label >= num_classes):
            raise AnnotationError(f'{path}:{lineno}: label {label} is outside the {num_classes} classes '
                                  f'0..{(num_classes or 1) - 1} of the dataset'
                                  if num_classes is not None else f'{path}:{lineno}: negative label {label}')
        samples.append((parts[0], label))
    return samples


def scan_class_folders(root: str, extensions: Sequence[str], classes: Optional[Sequence[str]] = None
                       ) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
    """``(relative path, label)`` of every image under ``root/<class>/`` and the class names."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'image folder {root} does not exist; check data_root and data_prefix '
                                '(or give ann_file for an annotation list)')
    folders = sorted(d.name for d in os.scandir(root) if d.is_dir())
    if not folders:
        raise AnnotationError(f'{root} has no class sub-folders; put the images of each class in '
                              '<data_prefix>/<class name>/ or give ann_file')
    names = tuple(classes) if classes is not None else tuple(folders)
    unknown = [d for d in folders if d not in names]
    if unknown:
        raise AnnotationError(f'{root}: folders {unknown[:5]} are not among the classes {list(names)[:10]}; '
                              'fix the classes of the dataset or move the folders')
    exts = tuple(e.lower() for e in extensions)
    samples = []
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(osp.join(root, folder), followlinks=True):
            dirnames.sort()
            for name in sorted(filenames):
                if name.lower().endswith(exts):
                    samples.append((osp.relpath(osp.join(dirpath, name), root), names.index(folder)))
    if not samples:
        raise AnnotationError(f'{root}: no images with extensions {exts} in the class folders {folders[:5]}')
    return samples, names


@DATASETS.register_module()
class CustomDataset(BaseDataset):
    """Single-label images from an annotation list or from class folders (mmpretrain's layouts).

    Each sample is ``dict(img_path=..., gt_label=int)`` for ``LoadImageFromFile`` and
    ``PackInputs``.

    Args:
        data_root: Folder that ``data_prefix`` and ``ann_file`` are relative to.
        data_prefix: Image folder, or ``dict(img_path=folder)``.
        ann_file: Annotation list (``path label`` per line); empty for the folder layout.
        with_label: Whether the annotation list has labels.
        extensions: Image file extensions of the folder layout (case-insensitive).
        metainfo: ``dict(classes=(...))`` overrides the class names.
        classes: mmpretrain's shortcut: class names, or a text file with one name per line
            (relative to ``data_root``).
        lazy_init: mmengine's: defer reading the annotations to first use.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments (``pipeline``,
            ``test_mode``, ``indices``, ...).
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 ann_file: str = '',
                 with_label: bool = True,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 metainfo: Optional[dict] = None,
                 classes: Union[None, str, Sequence[str]] = None,
                 lazy_init: bool = False,
                 **kwargs) -> None:
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=osp.expanduser(data_prefix))
        if 'img_path' not in data_prefix:
            raise ValueError(f'{type(self).__name__}: data_prefix={data_prefix!r}; give a folder or '
                             "dict(img_path=folder)")
        if classes is not None:
            if isinstance(classes, str):
                path = classes if osp.isabs(classes) or not data_root else osp.join(data_root, classes)
                classes = read_class_names(path)
            metainfo = dict(metainfo or {}, classes=tuple(classes))
        self.with_label = with_label
        self.extensions = tuple(extensions)
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root, data_prefix=data_prefix,
                         lazy_init=lazy_init, **kwargs)

    @property
    def img_prefix(self) -> str:
        return self.data_prefix['img_path']

    @property
    def CLASSES(self) -> Optional[tuple[str, ...]]:  # mmpretrain's name
        return self._metainfo.get('classes')

    def load_data_list(self) -> list[dict]:
        classes = self._metainfo.get('classes')
        if self.ann_file:
            pairs = parse_ann_list(self.ann_file, self.with_label, len(classes) if classes else None)
            if not pairs:
                raise AnnotationError(f'{self.ann_file} lists no images')
        else:
            pairs, found = scan_class_folders(self.img_prefix, self.extensions, classes)
            if classes is None:
                self._metainfo['classes'] = found
        data_list = []
        for rel, label in pairs:
            info = dict(img_path=osp.join(self.img_prefix, rel))
            if label is not None:
                info['gt_label'] = int(label)
            data_list.append(info)
        return data_list

    def get_gt_labels(self) -> np.ndarray:
        """Labels of all samples, in order."""
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))])

    def get_cat_ids(self, idx: int) -> list[int]:
        """The class of sample ``idx`` (for mmengine's ``ClassBalancedDataset``)."""
        return [int(self.get_data_info(idx)['gt_label'])]

    def extra_repr(self) -> list[str]:
        classes = self._metainfo.get('classes')
        return [f'Annotation file: {self.ann_file or "(class folders)"}',
                f'Prefix of images: {self.img_prefix}',
                f'Number of classes: {len(classes) if classes else "unknown"}']

    def __repr__(self) -> str:
        head = f'Dataset {type(self).__name__}'
        body = [f'Number of samples: {len(self) if self._fully_initialized else "(not loaded yet)"}']
        return '\n    '.join([head, *body, *self.extra_repr()])


def _split_defaults(data_root: str, split: str, data_prefix: Union[str, dict], ann_file: str,
                    list_prefix: str) -> tuple[Union[str, dict], str]:
    """data_prefix / ann_file implied by ``split``: ``meta/<split>.txt`` when it exists."""
    if not split:
        return data_prefix, ann_file
    if not ann_file and osp.isfile(osp.join(data_root, 'meta', f'{split}.txt')):
        ann_file = osp.join('meta', f'{split}.txt')
    if not data_prefix:
        data_prefix = list_prefix if ann_file and list_prefix else split
    return data_prefix, ann_file


@DATASETS.register_module()
class ImageNet(CustomDataset):
    """ImageNet-1k in mmpretrain's layout: ``train/<wnid>/*.JPEG``, ``val/``, ``meta/{train,val}.txt``.

    Class names are the sorted folder names (WordNet ids) for the folder layout; give
    ``classes`` (a list or a file) to name them with an annotation list.

    Args:
        data_root: The ImageNet folder.
        split: 'train', 'val' or 'test': sets ``data_prefix`` to the split's folder and
            ``ann_file`` to ``meta/<split>.txt`` when that file exists and none is given.
        data_prefix: Image folder (relative to ``data_root``).
        ann_file: Annotation list (relative to ``data_root``).
        **kwargs: :class:`CustomDataset` arguments.
    """

    def __init__(self, data_root: str = '', split: str = '', data_prefix: Union[str, dict] = '',
                 ann_file: str = '', **kwargs) -> None:
        if split not in ('', 'train', 'val', 'test'):
            raise ValueError(f"ImageNet: split={split!r}; use 'train', 'val' or 'test'")
        data_prefix, ann_file = _split_defaults(data_root, split, data_prefix, ann_file, '')
        super().__init__(data_root=data_root, data_prefix=data_prefix, ann_file=ann_file, **kwargs)


@DATASETS.register_module()
class VisualWakeWords(CustomDataset):
    """Visual Wake Words (person / no person) as ``tools/dataset_converters/build_vww.py`` writes it.

    Layout: ``images/`` (the COCO images, or a link to them), ``meta/train.txt`` and
    ``meta/val.txt`` (``path label``, label 1 = person), ``meta/classes.txt``. The class folders
    ``train/{no_person,person}/`` work too.

    Args:
        data_root: The folder written by ``build_vww.py``.
        split: 'train' or 'val' (the minival split): ``ann_file='meta/<split>.txt'`` and
            ``data_prefix='images'`` unless given.
        data_prefix: Image folder (relative to ``data_root``).
        ann_file: Annotation list (relative to ``data_root``).
        **kwargs: :class:`CustomDataset` arguments.
    """

    METAINFO = dict(classes=VWW_CLASSES)

    def __init__(self, data_root: str = '', split: str = '', data_prefix: Union[str, dict] = '',
                 ann_file: str = '', **kwargs) -> None:
        if split not in ('', 'train', 'val'):
            raise ValueError(f"VisualWakeWords: split={split!r}; use 'train' or 'val' (minival)")
        data_prefix, ann_file = _split_defaults(data_root, split, data_prefix, ann_file, 'images')
        super().__init__(data_root=data_root, data_prefix=data_prefix, ann_file=ann_file, **kwargs)


# ---------------------------------------------------------------------- procedural person / no-person set
def _figure_polygons(rng: np.random.Generator, cx: float, top: float, height: float) -> tuple:
    """Head circle (box) and body polygons of a standing figure ``height`` pixels tall."""
    head = height * rng.uniform(0.16, 0.22)
    torso_w = head * rng.uniform(1.3, 1.9)
    torso_h = height * rng.uniform(0.34, 0.42)
    neck = top + head
    hip = neck + torso_h
    leg_w = torso_w * rng.uniform(0.28, 0.38)
    lean = rng.uniform(-0.12, 0.12) * height
    torso = [(cx - torso_w / 2, neck), (cx + torso_w / 2, neck), (cx + torso_w / 2.4, hip),
             (cx - torso_w / 2.4, hip)]
    legs = [[(cx + s * torso_w / 2.4 - leg_w / 2, hip), (cx + s * torso_w / 2.4 + leg_w / 2, hip),
             (cx + s * (torso_w / 2.4 + abs(lean) / 3) + leg_w / 2, top + height),
             (cx + s * (torso_w / 2.4 + abs(lean) / 3) - leg_w / 2, top + height)] for s in (-1, 1)]
    arm_y = neck + torso_h * 0.1
    arms = [[(cx + s * torso_w / 2, arm_y), (cx + s * torso_w / 2, arm_y + leg_w),
             (cx + s * (torso_w / 2 + torso_h * 0.5) + lean * 0.3, arm_y + torso_h * 0.9),
             (cx + s * (torso_w / 2 + torso_h * 0.5) + lean * 0.3 - leg_w * 0.8, arm_y + torso_h * 0.9)]
            for s in (-1, 1)]
    head_box = (cx - head / 2 + lean * 0.2, top, cx + head / 2 + lean * 0.2, top + head)
    return head_box, [torso, *legs, *arms]


def render_person_image(seed: int, index: int, label: int, img_size: int = 80) -> np.ndarray:
    """(H, W, 3) uint8 RGB image ``index`` of the set ``seed``; a figure is drawn when ``label`` is 1.

    Both classes get 1-3 distractor shapes (circles, squares, triangles, crosses: a head alone or a
    torso alone is no person); the figure is 40-85 % of the image tall, in a random colour,
    sometimes cut by the border.
    """
    rng = np.random.default_rng([seed, index, 7])
    img = Image.fromarray(np.clip(textured_background(rng, img_size, img_size), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)

    def colour() -> tuple[int, int, int]:
        c = rng.uniform(0, 255, size=3)
        c[rng.integers(3)] = rng.uniform(0, 60)  # saturated enough to stand out of the muted background
        return tuple(int(v) for v in c)

    for _ in range(int(rng.integers(1, 4))):
        name = SHAPE_CLASSES[rng.integers(len(SHAPE_CLASSES))]
        size = rng.uniform(0.12, 0.35) * img_size
        cx, cy = rng.uniform(0, img_size), rng.uniform(0, img_size)
        if name == 'circle':
            draw.ellipse([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2], fill=colour())
        else:
            draw.polygon(_shape_polygon(name, cx, cy, size, rng.uniform(0, np.pi)), fill=colour())
    if label:
        height = rng.uniform(0.4, 0.85) * img_size
        cx = rng.uniform(0.15, 0.85) * img_size
        top = rng.uniform(-0.1 * height, img_size - 0.9 * height)
        head_box, body = _figure_polygons(rng, cx, top, height)
        body_colour = colour()
        for poly in body:
            draw.polygon(poly, fill=body_colour)
        draw.ellipse(head_box, fill=colour() if rng.random() < 0.5 else body_colour)
    out = np.asarray(img, dtype=np.float32) + rng.normal(0, 4, size=(img_size, img_size, 3))
    return np.clip(out, 0, 255).astype(np.uint8)


def generate_synthetic_cls(out_dir: str, num_train: int = 400, num_val: int = 100, img_size: int = 80,
                           seed: int = 0, overwrite: bool = False) -> SyntheticSummary:
    """Write a balanced person / no-person set in the Visual Wake Words layout.

    ``out_dir/images/{train,val}/NNNNNN.png``, ``out_dir/meta/{train,val}.txt`` (``path label``,
    1 = person) and ``out_dir/meta/classes.txt``; read it with
    ``dict(type='VisualWakeWords', data_root=out_dir, split='train')``. Every image is a pure
    function of ``(seed, index)``; the lists are written last, so an interrupted run lists only
    complete images.

    Args:
        out_dir: Output folder.
        num_train: Training images (even indices are persons).
        num_val: Validation images.
        img_size: Side in pixels (>= 32).
        seed: Seed of the set.
        overwrite: Allow writing over an existing set.
    """
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ValueError(f'num_train={num_train}, num_val={num_val}: need at least one image')
    if img_size < 32:
        raise ValueError(f'img_size {img_size}: must be at least 32 pixels')
    meta = osp.join(out_dir, 'meta')
    if osp.exists(osp.join(meta, 'train.txt')) and not overwrite:
        raise FileExistsError(f'{out_dir} already holds a set; pass overwrite=True (--overwrite) to '
                              'replace it')
    summary = SyntheticSummary(out_dir, objects=dict.fromkeys(VWW_CLASSES, 0))
    lists: dict[str, list[str]] = dict(train=[], val=[])
    for index in range(num_train + num_val):
        split = 'train' if index < num_train else 'val'
        label = index % 2 if split == 'train' else (index - num_train) % 2
        rel = f'{split}/{index + 1:06d}.png'
        buf = io.BytesIO()
        Image.fromarray(render_person_image(seed, index, label, img_size)).save(buf, format='PNG')
        atomic_write_bytes(osp.join(out_dir, 'images', rel), buf.getvalue())
        lists[split].append(f'{rel} {label}\n')
        summary.objects[VWW_CLASSES[label]] += 1
    atomic_write_text(osp.join(meta, 'classes.txt'), ''.join(c + '\n' for c in VWW_CLASSES))
    for split, lines in lists.items():
        atomic_write_text(osp.join(meta, f'{split}.txt'), ''.join(lines))
        summary.images[split] = len(lines)
    return summary
