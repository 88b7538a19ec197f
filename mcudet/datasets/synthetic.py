"""A procedural detection set in the Pascal VOC layout: coloured shapes on textured backgrounds.

Every image is a pure function of ``(seed, index)``, so a set is reproducible, and growing a
set keeps its first images unchanged. Images are written one at a time (a set of any size needs
the memory of one image), each file atomically, and the image-set lists last: an interrupted run
never lists an image that is not fully on disk.

The shapes are meant to be learnable by a tiny detector in minutes on a CPU: saturated colours,
mostly one colour family per class, a dark outline, over muted backgrounds.
"""
import io
import os
import os.path as osp
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .report import atomic_write_bytes, atomic_write_text

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'cross')
# Colour family per class (RGB). A fraction of objects takes another class's colour, so the
# shape, not only the colour, has to be learnt.
CLASS_COLOURS = dict(circle=(225, 40, 40), square=(40, 90, 235), triangle=(30, 185, 60),
                     cross=(245, 205, 20))
OFF_COLOUR_PROB = 0.15
MIN_VISIBLE = 0.5   # an object keeps at least this fraction of its area visible (occlusion, border)
MIN_BOX_SIDE = 4    # pixels; smaller visible boxes are re-drawn


@dataclass(frozen=True)
class ShapeObject:
    """One annotated object as VOC writes it: 1-based inclusive pixel box of its visible pixels.

    Args:
        name: Class name, one of :data:`SHAPE_CLASSES`.
        bbox: (xmin, ymin, xmax, ymax), 1-based, inclusive (VOC's convention).
        truncated: 1 when the shape extends past the image border.
        difficult: Always 0 here.
    """

    name: str
    bbox: tuple[int, int, int, int]
    truncated: int = 0
    difficult: int = 0


@dataclass
class SyntheticSummary:
    """What a generator wrote: folder, images per split, objects per class."""

    root: str
    images: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f'wrote {self.root}']
        out += [f'  {split}: {n} images' for split, n in self.images.items()]
        out += [f'  {name}: {n}' for name, n in self.objects.items()]
        return out


def _size(img_size: int | tuple[int, int]) -> tuple[int, int]:
    """(width, height) from an int or a (width, height) pair."""
    w, h = (img_size, img_size) if isinstance(img_size, int) else img_size
    if min(w, h) < 32:
        raise ValueError(f'img_size {img_size}: each side must be at least 32 pixels')
    return int(w), int(h)


def textured_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A muted (H, W, 3) float background: noise, a gradient or stripes, plus grain."""
    base = rng.uniform(70, 180) + rng.uniform(-20, 20, size=3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:      # blotchy noise: coarse noise upsampled
        coarse = rng.normal(0, 25, size=(height // 8 + 2, width // 8 + 2, 3))
        img = base + np.kron(coarse, np.ones((8, 8, 1)))[:height, :width]
    elif kind == 1:    # linear gradient between two muted colours
        theta = rng.uniform(0, 2 * np.pi)
        t = (np.cos(theta) * xx + np.sin(theta) * yy) / max(width, height)
        other = rng.uniform(70, 180) + rng.uniform(-20, 20, size=3)
        img = base + (other - base) * (t - t.min())[..., None] / max(np.ptp(t), 1e-6)
    else:              # sinusoidal stripes of random orientation and period
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(6, 24)
        phase = np.sin(2 * np.pi * (np.cos(theta) * xx + np.sin(theta) * yy) / period)
        img = base + rng.uniform(12, 30) * phase[..., None] * rng.uniform(0.5, 1.0, size=3)
    return img + rng.normal(0, rng.uniform(3, 10), size=(height, width, 3))


def _shape_polygon(name: str, cx: float, cy: float, size: float, angle: float) -> list[tuple]:
    """Vertices of a square, triangle or cross of bounding size ``size`` rotated by ``angle``."""
    half = size / 2
    if name == 'square':
        pts = [(-half, -half), (half, -half), (half, half), (-half, half)]
    elif name == 'triangle':
        pts = [(0, -half), (half, half * 0.75), (-half, half * 0.75)]
    else:  # cross: a plus sign with arms a third of the size thick
        t = size / 6
        pts = [(-t, -half), (t, -half), (t, -t), (half, -t), (half, t), (t, t), (t, half), (-t, half),
               (-t, t), (-half, t), (-half, -t), (-t, -t)]
    c, s = np.cos(angle), np.sin(angle)
    return [(cx + c * x - s * y, cy + s * x + c * y) for x, y in pts]


def _shape_mask(name: str, cx: float, cy: float, size: float, angle: float, canvas: tuple[int, int],
                pad: int) -> np.ndarray:
    """Binary mask of one shape on the image padded by ``pad`` on every side."""
    mask = Image.new('L', (canvas[0] + 2 * pad, canvas[1] + 2 * pad), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = cx + pad, cy + pad
    if name == 'circle':
        r = size / 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    else:
        draw.polygon(_shape_polygon(name, cx, cy, size, angle), fill=1)
    return np.asarray(mask, dtype=bool)


def _colour(rng: np.random.Generator, name: str) -> np.ndarray:
    family = name if rng.random() >= OFF_COLOUR_PROB else SHAPE_CLASSES[rng.integers(len(SHAPE_CLASSES))]
    return np.clip(np.array(CLASS_COLOURS[family], dtype=np.float64) + rng.uniform(-25, 25, size=3), 0, 255)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def _all_visible(owner: np.ndarray, areas: list[int]) -> bool:
    """Whether every object keeps MIN_VISIBLE of its area and a visible box of MIN_BOX_SIDE."""
    for k, area in enumerate(areas):
        visible = owner == k
        if visible.sum() < MIN_VISIBLE * area:
            return False
        if np.any(visible, axis=0).sum() < MIN_BOX_SIDE or np.any(visible, axis=1).sum() < MIN_BOX_SIDE:
            return False
    return True


def render_shapes_image(seed: int, index: int, img_size: int | tuple[int, int] = 160,
                        max_objects: int = 4, min_size: int | None = None,
                        max_size: int | None = None, return_owner: bool = False) -> tuple:
    """Draw image ``index`` of the set ``seed``.

    Args:
        seed: Seed of the whole set.
        index: Image index; the image depends only on ``(seed, index)`` and the size options.
        img_size: Side, or (width, height), in pixels.
        max_objects: Each image has 1..max_objects shapes.
        min_size: Smallest shape size in pixels; default a tenth of the shorter side.
        max_size: Largest shape size in pixels; default 45 % of the shorter side.
        return_owner: Also return the (H, W) map of the object index visible at each pixel (-1:
            background), from which the boxes are taken.

    Returns:
        The (H, W, 3) uint8 RGB image and its objects (list of :class:`ShapeObject`), in drawing
        order (later ones on top), and the owner map if ``return_owner``.
    """
    width, height = _size(img_size)
    short = min(width, height)
    min_size = min_size or max(8, short // 10)
    max_size = max_size or max(min_size + 1, int(short * 0.45))
    rng = np.random.default_rng([seed, index])
    img = textured_background(rng, width, height)
    pad = max_size
    owner = np.full((height, width), -1, dtype=np.int64)
    placed: list[tuple[str, np.ndarray, int, np.ndarray]] = []  # name, full mask, area, colour
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(30):
            name = SHAPE_CLASSES[rng.integers(len(SHAPE_CLASSES))]
            size = float(np.exp(rng.uniform(np.log(min_size), np.log(max_size))))
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            angle = np.deg2rad(rng.uniform(-15, 15)) + (np.pi if name == 'triangle' and rng.random() < 0.3
                                                        else 0.0)
            padded = _shape_mask(name, cx, cy, size, angle, (width, height), pad)
            area = int(padded.sum())
            if area == 0:
                continue
            trial = owner.copy()
            trial[padded[pad:pad + height, pad:pad + width]] = len(placed)
            if _all_visible(trial, [a for _, _, a, _ in placed] + [area]):
                owner = trial
                placed.append((name, padded, area, _colour(rng, name)))
                break
    objects = []
    for k, (name, padded, area, colour) in enumerate(placed):
        mask = padded[pad:pad + height, pad:pad + width]
        img[mask] = colour
        img[_outline(mask)] = colour * 0.35
        visible = owner == k
        rows, cols = np.nonzero(visible)
        truncated = int(mask.sum() < area)
        objects.append(ShapeObject(name, (int(cols.min()) + 1, int(rows.min()) + 1,
                                          int(cols.max()) + 1, int(rows.max()) + 1), truncated))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return (img, objects, owner) if return_owner else (img, objects)


def voc_xml(filename: str, width: int, height: int, objects: list[ShapeObject],
            folder: str = 'VOC2007', database: str = 'mcudet synthetic shapes') -> str:
    """A VOC annotation file: size, and per object name, pose, truncated, difficult, bndbox."""
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = folder
    ET.SubElement(root, 'filename').text = filename
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'database').text = database
    ET.SubElement(source, 'annotation').text = database
    ET.SubElement(source, 'image').text = 'procedural'
    size = ET.SubElement(root, 'size')
    for tag, value in (('width', width), ('height', height), ('depth', 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, 'segmented').text = '0'
    for obj in objects:
        node = ET.SubElement(root, 'object')
        ET.SubElement(node, 'name').text = obj.name
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = str(obj.truncated)
        ET.SubElement(node, 'difficult').text = str(obj.difficult)
        box = ET.SubElement(node, 'bndbox')
        for tag, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), obj.bbox):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root, space='\t')
    return ET.tostring(root, encoding='unicode') + '\n'


def encode_jpeg(img: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format='JPEG', quality=quality)
    return buf.getvalue()


def generate_synthetic_voc(out_dir: str, num_trainval: int = 200, num_test: int = 50,
                           img_size: int | tuple[int, int] = 160, max_objects: int = 4, seed: int = 0,
                           year: str = 'VOC2007', overwrite: bool = False) -> SyntheticSummary:
    """Write ``out_dir/VOCdevkit/<year>/{JPEGImages,Annotations,ImageSets/Main/{trainval,test}.txt}``.

    Args:
        out_dir: Folder that receives ``VOCdevkit``.
        num_trainval: Images in ``trainval.txt`` (ids 000001...).
        num_test: Images in ``test.txt`` (the ids after the trainval ones).
        img_size: Side, or (width, height), in pixels.
        max_objects: Shapes per image, 1..max_objects.
        seed: Seed of the set.
        year: Folder name under VOCdevkit ('VOC2007' or 'VOC2012').
        overwrite: Allow writing over an existing set.
    """
    if num_trainval < 0 or num_test < 0 or num_trainval + num_test == 0:
        raise ValueError(f'num_trainval={num_trainval}, num_test={num_test}: need at least one image')
    width, height = _size(img_size)
    root = osp.join(out_dir, 'VOCdevkit', year)
    sets = osp.join(root, 'ImageSets', 'Main')
    if osp.exists(osp.join(sets, 'trainval.txt')) and not overwrite:
        raise FileExistsError(f'{root} already holds a set; pass overwrite=True (--overwrite) to replace it')
    for sub in ('JPEGImages', 'Annotations'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    summary = SyntheticSummary(root, objects=dict.fromkeys(SHAPE_CLASSES, 0))
    ids: dict[str, list[str]] = dict(trainval=[], test=[])
    for index in range(num_trainval + num_test):
        img_id = f'{index + 1:06d}'
        img, objects = render_shapes_image(seed, index, (width, height), max_objects)
        atomic_write_bytes(osp.join(root, 'JPEGImages', f'{img_id}.jpg'), encode_jpeg(img))
        atomic_write_text(osp.join(root, 'Annotations', f'{img_id}.xml'),
                          voc_xml(f'{img_id}.jpg', width, height, objects, folder=year))
        ids['trainval' if index < num_trainval else 'test'].append(img_id)
        for obj in objects:
            summary.objects[obj.name] += 1
    for split, split_ids in ids.items():
        atomic_write_text(osp.join(sets, f'{split}.txt'), ''.join(i + '\n' for i in split_ids))
        summary.images[split] = len(split_ids)
    return summary
