"""The official WIDER FACE evaluation ground truth (``eval_tools/ground_truth/*.mat``).

``wider_face_val.mat`` holds MATLAB cell arrays, one cell per event::

    event_list{i}                 '0--Parade'
    file_list{i}{j}               '0_Parade_marchingband_1_465' (no extension)
    face_bbx_list{i}{j}           K x 4 double, x y w h per face
    blur_label_list{i}{j}, expression_label_list, illumination_label_list,
    invalid_label_list, occlusion_label_list, pose_label_list     K x 1 per attribute

and ``wider_{easy,medium,hard}_val.mat`` hold ``event_list``, ``file_list``, ``face_bbx_list`` and
``gt_list{i}{j}``: the 1-based indices (M x 1) of the faces that count in that setting; the other
faces of the image are "ignored" by the evaluation. Cells are written as (N, 1) object arrays so
that ``scipy.io.loadmat`` gives back exactly the nesting of the official files, which the official
Python evaluation indexes as ``event_list[i][0][0]``, ``file_list[i][0][j][0][0]``,
``face_bbx_list[i][0][j][0]`` and ``gt_list[i][0][j][0]``.
"""
import os
import os.path as osp
from dataclasses import dataclass, field

import numpy as np

from .report import AnnotationError, atomic_path
from .wider_face_format import ATTRIBUTE_NAMES

SETTINGS = ('easy', 'medium', 'hard')
FACE_MAT = 'wider_face_val.mat'


def setting_mat(setting: str) -> str:
    """The file name of a setting's ground truth, e.g. 'wider_easy_val.mat'."""
    return f'wider_{setting}_val.mat'


@dataclass
class WiderEvalImage:
    """Ground truth of one validation image for the evaluation.

    Args:
        name: Image name without folder and extension.
        boxes: (K, 4) float array, x y w h per face.
        keep: Per setting, the 0-based indices of the faces that count (the others are ignored).
        labels: Per attribute name, a (K,) int array; optional for evaluation.
    """

    name: str
    boxes: np.ndarray
    keep: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class WiderEvalEvent:
    """The images of one event folder, in the order of the .mat files."""

    name: str
    images: list[WiderEvalImage] = field(default_factory=list)


def _cells(items: list) -> np.ndarray:
    """A MATLAB N x 1 cell array."""
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def _savemat(path: str, arrays: dict) -> None:
    from scipy.io import savemat
    with atomic_path(path) as tmp:
        savemat(tmp, arrays, appendmat=False, format='5', do_compression=True)


def write_widerface_gt_mats(out_dir: str, events: list[WiderEvalEvent]) -> list[str]:
    """Write ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat`` into ``out_dir``.

    Args:
        out_dir: The folder (the official one is ``eval_tools/ground_truth``).
        events: Events in order; every image needs ``keep`` for the three settings.

    Returns:
        The four paths written.
    """
    events = [e for e in events if e.images]
    for event in events:
        for img in event.images:
            missing = [s for s in SETTINGS if s not in img.keep]
            if missing:
                raise ValueError(f'write_widerface_gt_mats: image {event.name}/{img.name} has no keep '
                                 f'list for {missing}')
    os.makedirs(out_dir, exist_ok=True)
    event_list = _cells([e.name for e in events])
    file_list = _cells([_cells([img.name for img in e.images]) for e in events])
    boxes = _cells([_cells([np.asarray(img.boxes, dtype=np.float64).reshape(-1, 4) for img in e.images])
                    for e in events])
    face = dict(event_list=event_list, file_list=file_list, face_bbx_list=boxes)
    for attr in ATTRIBUTE_NAMES:
        face[f'{attr}_label_list'] = _cells([
            _cells([np.asarray(img.labels.get(attr, np.zeros(len(img.boxes))), dtype=np.float64)
                    .reshape(-1, 1) for img in e.images]) for e in events])
    paths = [osp.join(out_dir, FACE_MAT)]
    _savemat(paths[0], face)
    for setting in SETTINGS:
        # The official files store 1-based MATLAB indices.
        gt_list = _cells([_cells([np.asarray(img.keep[setting], dtype=np.float64).reshape(-1, 1) + 1
                                  for img in e.images]) for e in events])
        path = osp.join(out_dir, setting_mat(setting))
        _savemat(path, dict(event_list=event_list, file_list=file_list, face_bbx_list=boxes,
                            gt_list=gt_list))
        paths.append(path)
    return paths


def _string(cell) -> str:
    """The string inside a loaded MATLAB char cell, however deeply numpy wrapped it."""
    value = np.asarray(cell)
    while value.dtype == object and value.size == 1:
        value = np.asarray(value.ravel()[0])
    if value.dtype.kind not in 'US' or value.size != 1:
        raise ValueError(f'expected a string cell, got {value!r}')
    return str(value.ravel()[0])


def _cell_items(cell) -> list:
    """The elements of a loaded N x 1 (or 1 x N) MATLAB cell array."""
    value = np.asarray(cell)
    return list(value.ravel()) if value.dtype == object else [value]


def _load(path: str, keys: tuple[str, ...]) -> dict:
    from scipy.io import loadmat
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: not found; the WIDER FACE evaluation needs {FACE_MAT} and '
                                f'{", ".join(setting_mat(s) for s in SETTINGS)} (eval_tools/ground_truth '
                                'of the official release, or the output of '
                                'tools/dataset_converters/make_synthetic.py wider)')
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for damaged or v7.3 (HDF5) files
        raise AnnotationError(f'{path}: cannot be read by scipy.io.loadmat ({exc}); the official files '
                              'are MATLAB v5 files') from exc
    missing = [k for k in keys if k not in mat]
    if missing:
        raise AnnotationError(f'{path}: has no {missing}; found {sorted(k for k in mat if k[0] != "_")}')
    return mat


def load_widerface_gt(gt_dir: str) -> list[WiderEvalEvent]:
    """Read the four official ground-truth files (the official ones, or ones written here).

    As the official Python evaluation does, boxes, events and file names come from
    ``wider_face_val.mat`` and the keep lists from the setting files.

    Raises:
        AnnotationError: Naming the file and the event/image where the files disagree.
    """
    face_path = osp.join(gt_dir, FACE_MAT)
    face = _load(face_path, ('event_list', 'file_list', 'face_bbx_list'))
    event_cells = _cell_items(face['event_list'])
    file_cells = _cell_items(face['file_list'])
    box_cells = _cell_items(face['face_bbx_list'])
    if not len(event_cells) == len(file_cells) == len(box_cells):
        raise AnnotationError(f'{face_path}: event_list, file_list and face_bbx_list have '
                              f'{len(event_cells)}, {len(file_cells)} and {len(box_cells)} events')
    events = []
    for i, (ev_cell, files_cell, boxes_cell) in enumerate(zip(event_cells, file_cells, box_cells)):
        event = WiderEvalEvent(_string(ev_cell))
        names = [_string(c) for c in _cell_items(files_cell)]
        box_list = _cell_items(boxes_cell)
        if len(names) != len(box_list):
            raise AnnotationError(f'{face_path}: event {i + 1} ({event.name}) lists {len(names)} files '
                                  f'but {len(box_list)} box arrays')
        for name, boxes in zip(names, box_list):
            boxes = np.asarray(boxes, dtype=np.float64)
            event.images.append(WiderEvalImage(name, boxes.reshape(-1, 4) if boxes.size else
                                               np.zeros((0, 4))))
        events.append(event)
    for setting in SETTINGS:
        path = osp.join(gt_dir, setting_mat(setting))
        gt_cells = _cell_items(_load(path, ('gt_list',))['gt_list'])
        if len(gt_cells) != len(events):
            raise AnnotationError(f'{path}: gt_list has {len(gt_cells)} events, {face_path} has '
                                  f'{len(events)}')
        for event, cell in zip(events, gt_cells):
            keeps = _cell_items(cell)
            if len(keeps) != len(event.images):
                raise AnnotationError(f'{path}: event {event.name} has {len(keeps)} keep lists for '
                                      f'{len(event.images)} images in {face_path}')
            for img, keep in zip(event.images, keeps):
                idx = np.asarray(keep, dtype=np.int64).ravel() - 1
                bad = idx[(idx < 0) | (idx >= len(img.boxes))]
                if bad.size:
                    raise AnnotationError(f'{path}: {event.name}/{img.name}: keep index {bad[0] + 1} '
                                          f'is outside 1..{len(img.boxes)}')
                img.keep[setting] = idx
    return events
