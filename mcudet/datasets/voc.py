"""Pascal VOC with every annotation checked while the dataset loads."""
import os.path as osp
import xml.etree.ElementTree as ET

from mmdet.datasets import VOCDataset
from mmengine.fileio import get, get_local_path

from mcudet.registry import DATASETS

from .report import AnnotationError, ProblemReport
from .wider_face import image_size

_MISSING_IMAGES = 'missing or unreadable images'


@DATASETS.register_module()
class MCUVOCDataset(VOCDataset):
    """mmdet's VOCDataset, with clear messages for broken annotations instead of a crash mid-epoch.

    mmdet's XMLDataset dies with a bare ``AttributeError``/``ParseError`` on a broken XML file,
    silently drops objects of unknown classes, and only finds a missing image when a data-loader
    worker reaches it. This class checks every image-set line, XML file and object while the
    dataset is built. Errors name the file and the line or the object (1-based index) and field;
    recoverable problems give one :class:`~mcudet.datasets.AnnotationWarning` per kind, with a
    count and the first examples.

    Errors (:class:`~mcudet.datasets.AnnotationError`), because no reasonable guess exists:

    - an empty image-set file (``ann_file``), or an empty, missing or malformed XML file
      (with the parser's line and column);
    - an XML without usable ``<size>`` and no readable image to take the size from;
    - an object without ``<name>``/``<bndbox>``, or a coordinate or ``<difficult>`` that is not a
      number;
    - missing or unreadable images (``check_images=True``, all of them listed at once), unless
      ``skip_missing_images=True``, which leaves them out with a warning (partial downloads).

    Warnings, because the data stays usable:

    - a box outside its image: clipped to the image (real VOC has a few);
    - an empty box (xmax <= xmin or ymax <= ymin, also after clipping): kept with ``ignore_flag=1``
      so it neither trains nor counts as a miss;
    - an object whose class is neither in ``metainfo['classes']`` nor one of the 20 VOC classes
      (likely a typo): skipped. Objects of a VOC class left out of a class subset are skipped
      silently, as in mmdet;
    - an image whose header size differs from the XML ``<size>``: the image's size is used.

    With classes other than the 20 VOC ones, ``metainfo['dataset_type']`` is None rather than
    'VOC2007'/'VOC2012': mmdet's VOCMetric prints the VOC class names for those dataset types,
    which would label a custom set's AP table 'aeroplane', 'bicycle', ...

    Args:
        check_images: Read every image header while loading (no decoding): finds missing or
            corrupt images and wrong ``<size>`` entries before training starts.
        skip_missing_images: Leave out missing images with a warning instead of raising.
        **kwargs: Passed to :class:`mmdet.datasets.VOCDataset` (``filter_cfg`` as there:
            ``filter_empty_gt``, ``min_size``, ``bbox_min_size``).
    """

    def __init__(self, *args, check_images: bool = True, skip_missing_images: bool = False,
                 **kwargs) -> None:
        self.check_images = check_images
        self.skip_missing_images = skip_missing_images
        super().__init__(*args, **kwargs)
        if tuple(self._metainfo['classes']) != tuple(VOCDataset.METAINFO['classes']):
            self._metainfo['dataset_type'] = None

    def load_data_list(self) -> list[dict]:
        """Read the image-set file and parse every XML (see the class docstring)."""
        name = type(self).__name__
        classes = self._metainfo.get('classes', None)
        if not classes:
            raise AnnotationError(f'{name}: metainfo has no classes; pass metainfo=dict(classes=(...))')
        if self.bbox_min_size is not None and self.test_mode:
            raise ValueError(f'{name}: filter_cfg bbox_min_size ignores small boxes, which would change the '
                             'evaluation; remove it from the test/val dataset')
        self.cat2label = {cat: i for i, cat in enumerate(classes)}
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local, \
                open(local, encoding='utf-8') as f:
            ids = [(n, line.strip()) for n, line in enumerate(f, start=1) if line.strip()]
        if not ids:
            raise AnnotationError(f'{self.ann_file}: the image-set file is empty; expected one image id per '
                                  'line (e.g. 000005), as in VOCdevkit/VOC2007/ImageSets/Main/trainval.txt')
        report = ProblemReport(f'{name}({self.ann_file})')
        data_list = []
        for lineno, img_id in ids:
            img_id = img_id.split()[0]  # per-class lists carry a second column ('000005 -1')
            raw = dict(img_id=img_id, file_name=osp.join(self.img_subdir, f'{img_id}.jpg'),
                       xml_path=osp.join(self.sub_data_root, self.ann_subdir, f'{img_id}.xml'),
                       ann_line=lineno)
            info = self.parse_data_info(raw, report)
            if info is not None:
                data_list.append(info)
        missing = report.items.pop(_MISSING_IMAGES, [])
        if missing and not self.skip_missing_images:
            raise AnnotationError(
                f'{self.ann_file}: {len(missing)} of {len(ids)} images are missing or unreadable: '
                + '; '.join(missing[:10]) + (' ...' if len(missing) > 10 else '')
                + '. Check data_root and data_prefix, or pass skip_missing_images=True to leave them out')
        if missing:
            report.items[f'{_MISSING_IMAGES}, left out'] = missing
        report.warn(stacklevel=4)
        if not data_list:
            raise AnnotationError(f'{self.ann_file}: no image left to load (all {len(missing)} are missing)')
        return data_list

    def filter_data(self) -> list[dict]:
        """mmdet's filter (``filter_empty_gt``, ``min_size``), with an error instead of an empty dataset."""
        kept = super().filter_data()
        if self.data_list and not kept:
            raise ValueError(f'{type(self).__name__}({self.ann_file}): filter_cfg={self.filter_cfg} '
                             f'removed all {len(self.data_list)} images; relax min_size / filter_empty_gt')
        return kept

    def parse_data_info(self, img_info: dict, report: ProblemReport | None = None) -> dict | None:
        """Parse one XML into mmdet's data info; None if its image is missing (recorded in ``report``).

        Args:
            img_info: ``img_id``, ``file_name``, ``xml_path`` and optionally ``ann_line`` (the line
                of the id in the image-set file, for messages).
            report: Collects recoverable problems; a fresh one that warns at once if None.
        """
        own_report = report is None
        report = report or ProblemReport(f'{type(self).__name__}({self.ann_file})')
        xml_path = img_info['xml_path']
        img_path = osp.join(self.sub_data_root, img_info['file_name'])
        where = f'{self.ann_file}:{img_info["ann_line"]}: ' if 'ann_line' in img_info else ''
        try:
            data = get(xml_path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise AnnotationError(f'{where}image {img_info["img_id"]!r} has no annotation file {xml_path}; '
                                  'remove the id from the image-set file or restore the XML') from None
        if not data.strip():
            raise AnnotationError(f'{xml_path}: the annotation file is empty (id {img_info["img_id"]!r}, '
                                  f'{where or "no image-set line"}); restore it or remove the id')
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            line, col = exc.position
            raise AnnotationError(f'{xml_path}:{line}:{col}: malformed XML ({exc}); fix or regenerate the '
                                  'file') from None
        if root.tag != 'annotation':
            raise AnnotationError(f'{xml_path}: the root element is <{root.tag}>, not <annotation>')

        width, height = self._xml_size(root, xml_path)
        if self.check_images or width is None:
            try:
                real = image_size(img_path)
            except (OSError, ValueError) as exc:
                if width is None:
                    raise AnnotationError(f'{xml_path}: no <size> and the image {img_path} cannot be read '
                                          f'({exc})') from None
                report.add(_MISSING_IMAGES, f'{img_path} ({where or xml_path}{exc})')
                return None
            if width is not None and real != (width, height):
                report.add('images whose size differs from the XML <size> (the image size is used)',
                           f'{xml_path}: <size> {width}x{height}, image {real[0]}x{real[1]}')
            width, height = real
        instances = self._parse_objects(root, xml_path, width, height, report)
        if own_report:
            report.warn()
        return dict(img_path=img_path, img_id=img_info['img_id'], xml_path=xml_path, height=height,
                    width=width, instances=instances)

    @staticmethod
    def _xml_size(root: ET.Element, xml_path: str) -> tuple[int | None, int | None]:
        size = root.find('size')
        if size is None:
            return None, None
        values = []
        for tag in ('width', 'height'):
            node = size.find(tag)
            try:
                values.append(int(float(node.text)))
            except (AttributeError, TypeError, ValueError):
                text = None if node is None else node.text
                raise AnnotationError(f'{xml_path}: <size><{tag}> is {text!r}, not a number') from None
            if values[-1] <= 0:
                raise AnnotationError(f'{xml_path}: <size><{tag}> is {values[-1]}; it must be positive')
        return values[0], values[1]

    def _parse_objects(self, root: ET.Element, xml_path: str, width: int, height: int,
                       report: ProblemReport) -> list[dict]:
        """Instances in mmdet's format; VOC's 1-based boxes become 0-based (minus one, as mmdet)."""
        classes = self._metainfo['classes']
        instances = []
        for k, obj in enumerate(root.findall('object'), start=1):
            where = f'{xml_path}: object {k}'
            name = _text(obj, 'name', where)
            if name not in classes:
                if name not in VOCDataset.METAINFO['classes']:
                    report.add(f'objects of class {name!r}, which is not in the dataset classes {classes}, '
                               'skipped (a typo?)', where)
                continue
            difficult = obj.find('difficult')
            try:
                difficult = 0 if difficult is None or difficult.text is None else int(difficult.text)
            except ValueError:
                raise AnnotationError(f'{where} ({name}): <difficult> is {difficult.text!r}, '
                                      'not 0 or 1') from None
            box = obj.find('bndbox')
            if box is None:
                raise AnnotationError(f'{where} ({name}): no <bndbox>')
            coords = []
            for tag in ('xmin', 'ymin', 'xmax', 'ymax'):
                text = _text(box, tag, f'{where} ({name}) <bndbox>')
                try:
                    coords.append(int(float(text)))
                except ValueError:
                    raise AnnotationError(f'{where} ({name}): <{tag}> is {text!r}, not a number') from None
            x1, y1, x2, y2 = coords
            if x1 < 1 or y1 < 1 or x2 > width or y2 > height:
                report.add('boxes outside their image, clipped',
                           f'{where} ({name}) ({x1},{y1},{x2},{y2}) in {width}x{height}')
                x1, x2 = min(max(x1, 1), width), min(max(x2, 1), width)
                y1, y2 = min(max(y1, 1), height), min(max(y2, 1), height)
            ignore = bool(difficult)
            if x2 <= x1 or y2 <= y1:
                report.add('empty boxes (xmax <= xmin or ymax <= ymin), kept as ignored',
                           f'{where} ({name}) ({x1},{y1},{x2},{y2})')
                ignore = True
            bbox = [x1 - 1, y1 - 1, x2 - 1, y2 - 1]
            min_size = self.bbox_min_size
            if min_size is not None and (bbox[2] - bbox[0] < min_size or bbox[3] - bbox[1] < min_size):
                ignore = True
            instances.append(dict(bbox=bbox, bbox_label=self.cat2label[name], ignore_flag=int(ignore)))
        return instances


def _text(node: ET.Element, tag: str, where: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise AnnotationError(f'{where}: no <{tag}> (or it is empty)')
    return child.text.strip()
