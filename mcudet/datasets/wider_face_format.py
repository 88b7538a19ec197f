"""The official WIDER FACE ground-truth text format (``wider_face_split/wider_face_*_bbx_gt.txt``).

Each image is a block of lines::

    0--Parade/0_Parade_marchingband_1_849.jpg
    1
    449 330 122 149 0 0 0 0 0 0

an image path relative to ``WIDER_*/images``, the number of faces, then one line per face:
``x1 y1 w h blur expression illumination invalid occlusion pose``. The official files have one
quirk: an image with no face still carries one all-zero face line after its count of 0. The
parser accepts the block with or without that line; the writer always emits it, as the official
files do.
"""
import math
import os.path as osp
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from .report import AnnotationError, atomic_write_text

ATTRIBUTE_NAMES = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')
# Legal values per attribute (the WIDER FACE readme): blur clear/normal/heavy, expression
# typical/exaggerate, illumination normal/extreme, invalid false/true, occlusion no/partial/heavy,
# pose typical/atypical.
ATTRIBUTE_VALUES = dict(blur=(0, 1, 2), expression=(0, 1), illumination=(0, 1), invalid=(0, 1),
                        occlusion=(0, 1, 2), pose=(0, 1))
FIELD_NAMES = ('x1', 'y1', 'w', 'h') + ATTRIBUTE_NAMES
_IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


@dataclass(frozen=True)
class WiderFaceBox:
    """One face: top-left corner, width, height (pixels) and the six official attributes."""

    x: float
    y: float
    w: float
    h: float
    blur: int = 0
    expression: int = 0
    illumination: int = 0
    invalid: int = 0
    occlusion: int = 0
    pose: int = 0
    line: int = field(default=0, compare=False)  # 1-based line in the txt file; 0 if not read

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        """(x1, y1, x1 + w, y1 + h), the corner convention of the official evaluation."""
        return (self.x, self.y, self.x + self.w, self.y + self.h)

    def attributes(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ATTRIBUTE_NAMES}

    def as_row(self) -> tuple:
        return tuple(v for k, v in asdict(self).items() if k != 'line')


@dataclass
class WiderImageAnn:
    """The faces of one image, with the image path as the txt file writes it ('event/name.jpg')."""

    path: str
    boxes: list[WiderFaceBox] = field(default_factory=list)
    line: int = 0  # 1-based line of the path in the txt file

    @property
    def event(self) -> str:
        """The event folder ('0--Parade'); '' when the path has no folder."""
        return self.path.split('/')[0] if '/' in self.path else ''

    @property
    def name(self) -> str:
        """The image name without folder and extension, as the evaluation .mat files list it."""
        return osp.splitext(osp.basename(self.path))[0]


def _number(token: str) -> int | float:
    value = float(token)  # raises ValueError on non-numeric tokens
    if not math.isfinite(value):
        raise ValueError(token)
    return int(value) if value.is_integer() else value


def _looks_like_path(tokens: list[str]) -> bool:
    return len(tokens) == 1 and ('/' in tokens[0] or tokens[0].lower().endswith(_IMAGE_EXTS))


def _parse_face(tokens: list[str], file: str, lineno: int, path: str) -> WiderFaceBox:
    where = f'{file}:{lineno} (a face of {path!r})'
    if len(tokens) < len(FIELD_NAMES):
        raise AnnotationError(
            f'{where}: expected {len(FIELD_NAMES)} numbers ({" ".join(FIELD_NAMES)}), got '
            f'{len(tokens)}: {" ".join(tokens)!r}; is the face count of this image too large?')
    values = []
    for name, token in zip(FIELD_NAMES, tokens):
        try:
            values.append(_number(token))
        except ValueError:
            raise AnnotationError(f'{where}: field {name!r} is {token!r}, not a number') from None
    for name, value in zip(ATTRIBUTE_NAMES, values[4:]):
        if value not in ATTRIBUTE_VALUES[name]:
            raise AnnotationError(f'{where}: field {name!r} is {value!r}; the official values are '
                                  f'{ATTRIBUTE_VALUES[name]}')
    return WiderFaceBox(*values[:4], **dict(zip(ATTRIBUTE_NAMES, (int(v) for v in values[4:]))),
                        line=lineno)


def iter_bbx_gt(file: str, lines: Iterable[str] | None = None) -> Iterator[WiderImageAnn]:
    """Parse a ``wider_face_*_bbx_gt.txt`` file image by image, without holding it in memory.

    Args:
        file: The file to read; also the name used in error messages.
        lines: Read these lines instead of opening ``file`` (e.g. a file fetched from a backend).

    Raises:
        AnnotationError: Naming the file, the line and the field, for an empty file, a count that
            is not a non-negative integer, a face line with too few or non-numeric fields, a face
            count that does not match the face lines, or an image listed twice.
    """
    handle = None
    if lines is None:
        handle = open(file, encoding='utf-8')
        lines = handle
    try:
        numbered = ((n, raw.split()) for n, raw in enumerate(lines, start=1))
        numbered = ((n, tokens) for n, tokens in numbered if tokens)  # blank lines are skipped
        seen: dict[str, int] = {}
        pending = None  # a line read ahead while looking for the 0-face quirk line
        any_image = False
        while True:
            item = pending if pending is not None else next(numbered, None)
            pending = None
            if item is None:
                break
            path_no, tokens = item
            if len(tokens) != 1 or not _looks_like_path(tokens):
                raise AnnotationError(
                    f'{file}:{path_no}: expected an image path such as "0--Parade/0_Parade_1.jpg", got '
                    f'{" ".join(tokens)!r}; the face count of the previous image may be too small')
            path = tokens[0]
            if path in seen:
                raise AnnotationError(f'{file}:{path_no}: image {path!r} is listed again '
                                      f'(first on line {seen[path]}); each image must appear once')
            seen[path] = path_no
            count_item = next(numbered, None)
            if count_item is None:
                raise AnnotationError(f'{file}:{path_no}: the file ends after the path {path!r}; '
                                      'expected the number of faces on the next line')
            count_no, count_tokens = count_item
            if len(count_tokens) != 1 or not count_tokens[0].isdigit():
                raise AnnotationError(
                    f'{file}:{count_no}: expected the number of faces of {path!r} (a non-negative '
                    f'integer), got {" ".join(count_tokens)!r}')
            count = int(count_tokens[0])
            boxes = []
            for k in range(count):
                face_item = next(numbered, None)
                if face_item is None:
                    raise AnnotationError(
                        f'{file}:{count_no}: {path!r} declares {count} faces but the file ends after '
                        f'{k}; fix the count or add the missing face lines')
                face_no, face_tokens = face_item
                if _looks_like_path(face_tokens):
                    raise AnnotationError(
                        f'{file}:{face_no}: expected face {k + 1} of {count} for {path!r} (count on line '
                        f'{count_no}) but found the image path {face_tokens[0]!r}; the count is too large')
                boxes.append(_parse_face(face_tokens, file, face_no, path))
            if count == 0:
                # The official quirk: one all-zero face line follows a count of 0.
                pending = next(numbered, None)
                if pending is not None and not _looks_like_path(pending[1]):
                    zero_no, zero_tokens = pending
                    face = _parse_face(zero_tokens, file, zero_no, path)
                    if any(face.as_row()):
                        raise AnnotationError(
                            f'{file}:{zero_no}: {path!r} declares 0 faces (line {count_no}) but a face '
                            f'line follows; fix the count, or make the line all zeros')
                    pending = None
            any_image = True
            yield WiderImageAnn(path=path, boxes=boxes, line=path_no)
        if not any_image:
            raise AnnotationError(f'{file}: the file is empty; expected the official WIDER FACE format '
                                  '(image path, face count, one "x1 y1 w h blur expression illumination '
                                  'invalid occlusion pose" line per face)')
    finally:
        if handle is not None:
            handle.close()


def read_bbx_gt(file: str) -> list[WiderImageAnn]:
    """All images of a ``wider_face_*_bbx_gt.txt`` file (see :func:`iter_bbx_gt`)."""
    return list(iter_bbx_gt(file))


def format_bbx_gt(anns: Iterable[WiderImageAnn]) -> Iterator[str]:
    """The lines of the official format (with the trailing space of the official files)."""
    for ann in anns:
        yield ann.path
        yield str(len(ann.boxes))
        rows = [box.as_row() for box in ann.boxes] or [(0,) * len(FIELD_NAMES)]
        for row in rows:
            yield ' '.join(str(v) for v in row) + ' '


def write_bbx_gt(file: str, anns: Iterable[WiderImageAnn]) -> None:
    """Write ``anns`` in the official format, atomically."""
    atomic_write_text(file, ''.join(line + '\n' for line in format_bbx_gt(anns)))
