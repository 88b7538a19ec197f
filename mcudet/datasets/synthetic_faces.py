"""A faces-like set in the official WIDER FACE layout, with its official evaluation files.

Writes::

    WIDER_{train,val}/images/<event>/<name>.jpg
    wider_face_split/wider_face_{train,val}_bbx_gt.txt        (official text format)
    ground_truth/wider_face_val.mat, wider_{easy,medium,hard}_val.mat   (official eval_tools layout)

A "face" is a skin-toned ellipse with hair, eyes and a mouth; its six official attributes are
drawn, not just labelled: blur (Gaussian blur), expression (open mouth), illumination (dark or
over-exposed face), occlusion (a patch over part of the face), pose (profile: narrow face, eyes
to one side), invalid (faces under :data:`MIN_VALID_HEIGHT` pixels). The official easy/medium/hard
split came from EdgeBox detection rates; here it is a rule on size and attributes,
:func:`setting_keep`, with the same nesting easy within medium within hard.
"""
import os
import os.path as osp

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .report import atomic_write_bytes
from .synthetic import SyntheticSummary, _size, encode_jpeg, textured_background
from .wider_face_format import ATTRIBUTE_NAMES, WiderFaceBox, WiderImageAnn, write_bbx_gt
from .wider_face_mat import WiderEvalEvent, WiderEvalImage, write_widerface_gt_mats

EVENTS = ('0--Parade', '1--Handshaking', '2--Demonstration', '3--Riot', '4--Dancing')
SKIN = ((255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36))
HAIR = ((30, 20, 15), (90, 55, 25), (160, 120, 60), (60, 60, 60))
MIN_VALID_HEIGHT = 8    # faces shorter than this are marked invalid (ignored in every setting)
ZERO_FACE_PROB = 0.06   # images without faces exercise the official 0-face quirk


def setting_keep(boxes: list[WiderFaceBox]) -> dict[str, np.ndarray]:
    """0-based indices of the faces that count in each setting.

    hard: every valid face; medium: hard faces at least 16 px high without heavy blur or heavy
    occlusion; easy: medium faces at least 32 px high, sharp, unoccluded, normally lit, frontal.
    """
    def pick(cond) -> np.ndarray:
        return np.array([i for i, b in enumerate(boxes) if cond(b)], dtype=np.int64)

    def hard(b: WiderFaceBox) -> bool:
        return b.invalid == 0 and b.w > 0 and b.h > 0

    def medium(b: WiderFaceBox) -> bool:
        return hard(b) and b.h >= 16 and b.blur < 2 and b.occlusion < 2

    def easy(b: WiderFaceBox) -> bool:
        return (medium(b) and b.h >= 32 and b.blur == 0 and b.occlusion == 0 and b.illumination == 0
                and b.pose == 0)

    return dict(easy=pick(easy), medium=pick(medium), hard=pick(hard))


def _draw_face(canvas: Image.Image, rng: np.random.Generator, box: tuple[int, int, int, int],
               attrs: dict[str, int]) -> None:
    """Draw one face filling ``box`` = (x, y, w, h) with the given attributes."""
    x, y, w, h = box
    scale = 4  # draw the patch larger, then shrink: smooth edges at any face size
    patch = Image.new('RGBA', (w * scale, h * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    W, H = w * scale, h * scale
    skin = tuple(int(c) for c in np.clip(np.array(SKIN[rng.integers(len(SKIN))]) + rng.integers(-12, 13, 3),
                                         0, 255))
    hair = HAIR[rng.integers(len(HAIR))]
    draw.ellipse([0, 0, W - 1, H - 1], fill=skin + (255,))
    draw.chord([0, 0, W - 1, H - 1], 180, 360, fill=hair + (255,))       # hair on the top half
    draw.ellipse([W * 0.12, H * 0.22, W * 0.88, H * 0.98], fill=skin + (255,))  # forehead and cheeks
    eye_y, eye_r = H * 0.48, max(W * 0.07, 1.5)
    eye_xs = (W * 0.55, W * 0.78) if attrs['pose'] else (W * 0.32, W * 0.68)
    for ex in eye_xs:
        draw.ellipse([ex - eye_r, eye_y - eye_r, ex + eye_r, eye_y + eye_r], fill=(20, 20, 20, 255))
    mouth_x = W * 0.62 if attrs['pose'] else W * 0.5
    if attrs['expression']:
        draw.ellipse([mouth_x - W * 0.14, H * 0.68, mouth_x + W * 0.14, H * 0.86], fill=(90, 10, 20, 255))
    else:
        draw.line([mouth_x - W * 0.15, H * 0.76, mouth_x + W * 0.15, H * 0.76], fill=(120, 30, 30, 255),
                  width=max(scale, W // 20))
    patch = patch.resize((w, h), Image.LANCZOS)
    if attrs['illumination']:
        rgb = np.asarray(patch, dtype=np.float64)
        rgb[..., :3] *= 0.35 if rng.random() < 0.5 else 1.8
        patch = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), 'RGBA')
    canvas.alpha_composite(patch, (x, y))
    if attrs['occlusion']:
        frac = rng.uniform(0.2, 0.4) if attrs['occlusion'] == 1 else rng.uniform(0.5, 0.7)
        colour = tuple(int(c) for c in rng.integers(40, 200, 3)) + (255,)
        ImageDraw.Draw(canvas).rectangle(_occluder(rng, box, frac), fill=colour)
    if attrs['blur']:
        region = (max(x - 4, 0), max(y - 4, 0), min(x + w + 4, canvas.width), min(y + h + 4, canvas.height))
        radius = max(w, 8) * (0.06 if attrs['blur'] == 1 else 0.15)
        canvas.paste(canvas.crop(region).filter(ImageFilter.GaussianBlur(radius)), region[:2])


def _occluder(rng: np.random.Generator, box: tuple[int, int, int, int], frac: float) -> list[float]:
    """A rectangle covering ``frac`` of the face from one side (a hand, a sign, another head)."""
    x, y, w, h = box
    side = rng.integers(3)
    if side == 0:   # from the left
        return [x - 1, y - 1, x + w * frac, y + h + 1]
    if side == 1:   # from the right
        return [x + w * (1 - frac), y - 1, x + w + 1, y + h + 1]
    return [x - 1, y + h * (1 - frac), x + w + 1, y + h + 1]  # from below


def render_faces_image(seed: int, split: str, index: int, img_size: int | tuple[int, int] = 256,
                       max_faces: int = 6) -> tuple[np.ndarray, list[WiderFaceBox]]:
    """Draw image ``index`` of ``split`` of the set ``seed``.

    Returns:
        The (H, W, 3) uint8 RGB image and its faces (integer x, y, w, h, official attributes).
    """
    width, height = _size(img_size)
    rng = np.random.default_rng([seed, ('train', 'val').index(split), index])
    canvas = Image.fromarray(np.clip(textured_background(rng, width, height), 0, 255).astype(np.uint8))
    canvas = canvas.convert('RGBA')
    n_faces = 0 if rng.random() < ZERO_FACE_PROB else int(rng.integers(1, max_faces + 1))
    boxes: list[WiderFaceBox] = []
    for _ in range(n_faces):
        pose = int(rng.random() < 0.1)
        for _attempt in range(30):
            w = int(np.exp(rng.uniform(np.log(4), np.log(0.3 * min(width, height)))))
            h = int(round(w * rng.uniform(1.1, 1.35)))
            if pose:
                w = max(3, int(w * 0.75))  # a profile is narrower
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            if all(x + w + 2 <= b.x or b.x + b.w + 2 <= x or y + h + 2 <= b.y or b.y + b.h + 2 <= y
                   for b in boxes):
                break
        else:
            continue
        attrs = dict(blur=int(rng.choice(3, p=[0.7, 0.2, 0.1])), expression=int(rng.random() < 0.2),
                     illumination=int(rng.random() < 0.1), invalid=int(h < MIN_VALID_HEIGHT),
                     occlusion=int(rng.choice(3, p=[0.75, 0.15, 0.1])), pose=pose)
        _draw_face(canvas, rng, (x, y, w, h), attrs)
        boxes.append(WiderFaceBox(x, y, w, h, **attrs))
    return np.asarray(canvas.convert('RGB')), boxes


def generate_synthetic_wider(out_dir: str, num_train: int = 200, num_val: int = 50,
                             img_size: int | tuple[int, int] = 256, max_faces: int = 6, seed: int = 0,
                             overwrite: bool = False) -> SyntheticSummary:
    """Write a WIDER FACE-layout set into ``out_dir`` (see the module docstring for the files).

    Args:
        out_dir: The dataset root (the official one is called ``WIDERFace``).
        num_train: Images in WIDER_train.
        num_val: Images in WIDER_val (these get the evaluation .mat files).
        img_size: Side, or (width, height), in pixels.
        max_faces: Faces per image, 0..max_faces.
        seed: Seed of the set.
        overwrite: Allow writing over an existing set.
    """
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ValueError(f'num_train={num_train}, num_val={num_val}: need at least one image')
    split_dir = osp.join(out_dir, 'wider_face_split')
    if osp.exists(osp.join(split_dir, 'wider_face_train_bbx_gt.txt')) and not overwrite:
        raise FileExistsError(f'{out_dir} already holds a set; pass overwrite=True (--overwrite) to '
                              'replace it')
    summary = SyntheticSummary(out_dir)
    for split, count in (('train', num_train), ('val', num_val)):
        per_event: dict[str, list[WiderImageAnn]] = {e: [] for e in EVENTS}
        for index in range(count):
            event = EVENTS[index % len(EVENTS)]
            number, label = event.split('--')
            rel = f'{event}/{number}_{label}_synthetic_{index}.jpg'
            img, boxes = render_faces_image(seed, split, index, img_size, max_faces)
            path = osp.join(out_dir, f'WIDER_{split}', 'images', rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            atomic_write_bytes(path, encode_jpeg(img))
            per_event[event].append(WiderImageAnn(rel, boxes))
            counts = dict(faces=len(boxes), invalid=sum(b.invalid for b in boxes),
                          **{k: len(v) for k, v in setting_keep(boxes).items()})
            for key, n in counts.items():
                summary.objects[f'{split} {key}'] = summary.objects.get(f'{split} {key}', 0) + n
        write_bbx_gt(osp.join(split_dir, f'wider_face_{split}_bbx_gt.txt'),
                     [ann for anns in per_event.values() for ann in anns])
        summary.images[f'WIDER_{split}'] = count
        if split == 'val' and count:
            write_widerface_gt_mats(osp.join(out_dir, 'ground_truth'), widerface_eval_events(per_event))
    return summary


def widerface_eval_events(per_event: dict[str, list[WiderImageAnn]]) -> list[WiderEvalEvent]:
    """Evaluation ground truth (boxes, attributes, :func:`setting_keep`) of annotated images."""
    events = []
    for event, anns in per_event.items():
        images = []
        for ann in anns:
            boxes = np.array([[b.x, b.y, b.w, b.h] for b in ann.boxes], dtype=np.float64).reshape(-1, 4)
            labels = {k: np.array([getattr(b, k) for b in ann.boxes]) for k in ATTRIBUTE_NAMES}
            images.append(WiderEvalImage(ann.name, boxes, setting_keep(ann.boxes), labels))
        events.append(WiderEvalEvent(event, images))
    return events
