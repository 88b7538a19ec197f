"""WIDER FACE read straight from the official ``wider_face_split/wider_face_*_bbx_gt.txt``."""
import os.path as osp

from mmdet.datasets import BaseDetDataset
from mmengine.fileio import get_local_path

from mcudet.registry import DATASETS

from .report import AnnotationError, ProblemReport
from .wider_face_format import ATTRIBUTE_NAMES, WiderImageAnn, iter_bbx_gt


def image_size(path: str) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels."""
    from PIL import Image
    with Image.open(path) as img:
        return img.size


@DATASETS.register_module()
class WIDERFaceTxtDataset(BaseDetDataset):
    """WIDER FACE from the official text annotations, one class 'face'.

    Each instance keeps the official attributes (``blur``, ``expression``, ``illumination``,
    ``invalid``, ``occlusion``, ``pose``) and its line in the txt file (``ann_line``). A face is
    ignored (``ignore_flag=1``) when it is marked invalid, has a width or height <= 0, or is
    smaller than ``filter_cfg['bbox_min_size']``.

    What happens on broken input, and why:

    - malformed txt (empty file, wrong face count, non-numeric or missing fields, an image listed
      twice): :class:`AnnotationError` naming the file and the line. The file needs fixing; a
      guess would shift every later face onto the wrong image.
    - missing or unreadable image (``check_images=True``): :class:`AnnotationError` listing every
      such image with its txt line, before training starts; with ``skip_missing_images=True``
      one :class:`AnnotationWarning` and the images are left out (for partial downloads).
    - a box reaching outside its image: clipped to the image, one warning listing the lines.
      Real WIDER FACE has a few such boxes; clipping keeps the face. A box with no area left
      after clipping is ignored.

    Args:
        ann_file: ``wider_face_split/wider_face_{train,val}_bbx_gt.txt`` (relative to ``data_root``).
        data_prefix: ``dict(img='WIDER_train/images/')``; the txt paths are relative to it.
        check_images: Read every image header while loading (cheap: no decoding) to check that the
            image exists and to know its size, which box clipping and ``filter_cfg['min_size']``
            need. Without it width and height are unknown (None) and boxes are not clipped.
        skip_missing_images: Leave out missing images with a warning instead of raising.
        **kwargs: Passed to :class:`mmdet.datasets.BaseDetDataset` (``filter_cfg`` understands
            ``filter_empty_gt``, ``min_size`` and ``bbox_min_size`` as mmdet's XMLDataset does).
    """

    METAINFO = {'classes': ('face',), 'palette': [(0, 255, 0)]}

    def __init__(self, *args, check_images: bool = True, skip_missing_images: bool = False,
                 **kwargs) -> None:
        self.check_images = check_images
        self.skip_missing_images = skip_missing_images
        super().__init__(*args, **kwargs)

    @property
    def bbox_min_size(self) -> float | None:
        return (self.filter_cfg or {}).get('bbox_min_size', None)

    def load_data_list(self) -> list[dict]:
        """Parse the txt file image by image (see the class docstring for the error policy)."""
        if not self.ann_file:
            raise AnnotationError(f'{type(self).__name__}: ann_file is empty; set it to '
                                  'wider_face_split/wider_face_train_bbx_gt.txt (or _val_)')
        report = ProblemReport(f'{type(self).__name__}({self.ann_file})')
        data_list = []
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local, \
                open(local, encoding='utf-8') as lines:
            for ann in iter_bbx_gt(self.ann_file, lines):
                info = self.parse_data_info(ann, report)
                if info is not None:
                    data_list.append(info)
        missing = report.items.pop('missing or unreadable images', [])
        if missing and not self.skip_missing_images:
            raise AnnotationError(
                f'{self.ann_file}: {len(missing)} missing or unreadable images (of '
                f'{len(data_list) + len(missing)}): ' + '; '.join(missing[:10])
                + (' ...' if len(missing) > 10 else '')
                + '. Check data_root and data_prefix, or pass skip_missing_images=True to leave them out')
        if missing:
            report.items['missing or unreadable images, left out'] = missing
        report.warn(stacklevel=4)
        if not data_list:
            raise AnnotationError(f'{self.ann_file}: no image left to load (all {len(missing)} are missing)')
        return data_list

    def parse_data_info(self, ann: WiderImageAnn, report: ProblemReport | None = None) -> dict | None:
        """One image's data info; None when its image is missing (recorded in ``report``)."""
        report = report or ProblemReport(f'{type(self).__name__}({self.ann_file})')
        img_path = osp.join(self.data_prefix.get('img', ''), ann.path)
        width = height = None
        if self.check_images:
            try:
                width, height = image_size(img_path)
            except (OSError, ValueError) as exc:
                report.add('missing or unreadable images', f'{img_path} (line {ann.line}: {exc})')
                return None
        instances = []
        for box in ann.boxes:
            x1, y1, x2, y2 = (float(v) for v in box.xyxy)
            ignore = bool(box.invalid) or box.w <= 0 or box.h <= 0
            if width is not None and (x1 < 0 or y1 < 0 or x2 > width or y2 > height):
                report.add('boxes outside their image, clipped',
                           f'line {box.line} ({x1:g},{y1:g},{x2:g},{y2:g}) in {width}x{height} {ann.path}')
                x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
                y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
                ignore = ignore or x2 <= x1 or y2 <= y1
            min_size = self.bbox_min_size
            if min_size is not None and (x2 - x1 < min_size or y2 - y1 < min_size):
                ignore = True
            instances.append(dict(bbox=[x1, y1, x2, y2], bbox_label=0, ignore_flag=int(ignore),
                                  ann_line=box.line, **{k: getattr(box, k) for k in ATTRIBUTE_NAMES}))
        return dict(img_path=img_path, img_id=osp.splitext(ann.path)[0], event=ann.event,
                    width=width, height=height, ann_line=ann.line, instances=instances)

    def filter_data(self) -> list[dict]:
        """Drop images without faces (``filter_empty_gt``) or smaller than ``min_size``, in training only."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        if min_size and not self.check_images:
            raise ValueError(f'{type(self).__name__}: filter_cfg min_size={min_size} needs the image sizes; '
                             'set check_images=True or drop min_size')
        kept = []
        for info in self.data_list:
            if filter_empty_gt and not info['instances']:
                continue
            if min_size and min(info['width'], info['height']) < min_size:
                continue
            kept.append(info)
        if self.data_list and not kept:
            raise ValueError(f'{type(self).__name__}({self.ann_file}): filter_cfg={self.filter_cfg} '
                             f'removed all {len(self.data_list)} images; relax min_size / filter_empty_gt')
        return kept

