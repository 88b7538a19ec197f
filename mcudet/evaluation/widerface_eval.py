"""The official WIDER FACE evaluation (easy / medium / hard AP) as pure functions.

Follows the official MATLAB ``eval_tools`` (``wider_eval.m``, ``read_pred.m``, ``norm_score.m``,
``evaluation.m``) and its usual Python port:

1. predictions of the images listed in the ground truth are sorted by score (descending, stable)
   and their scores min-max normalised over all those predictions together;
2. per image, each prediction is matched to the ground-truth face of largest IoU (IoU with the
   official +1 pixel convention, boxes ``x y w h`` with corners ``x`` and ``x + w``); at IoU >= 0.5
   a face the setting does not keep makes the prediction ignored (it is neither a true nor a
   false positive), a kept face is recalled by its first such prediction only;
3. at 1000 score thresholds ``1 - t/1000`` (t = 1..1000), the predictions above the threshold
   give (proposals, recalled faces) per image, summed over the set; precision = recalled /
   proposals and recall = recalled / faces kept by the setting;
4. AP is the area under the interpolated PR curve, as the official ``voc_ap``.

Deviations, only where the official code divides by zero: a threshold with no proposal has
precision 0 (the official gives NaN, which would make the AP NaN; these points have recall 0 and
add no area otherwise), and if all normalised scores would be 0/0 (every score equal) they are 1.
An image or event missing from the predictions has no predictions (the official Python port
raises ``KeyError``; the MATLAB code prints a message and goes on, as here).
"""
import os.path as osp
import warnings

import numpy as np

from mcudet.datasets.wider_face_mat import SETTINGS, WiderEvalEvent, load_widerface_gt

THRESH_NUM = 1000
IOU_THRESH = 0.5
PredDict = dict[str, dict[str, np.ndarray]]  # event -> image name -> (N, 5) x, y, w, h, score


def bbox_overlaps(boxes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(N, K) IoU of corner boxes with the official +1 pixel convention (width = x2 - x1 + 1)."""
    boxes, query = np.asarray(boxes, np.float64), np.asarray(query, np.float64)
    b, q = boxes[:, None, :], query[None, :, :]
    iw = np.minimum(b[..., 2], q[..., 2]) - np.maximum(b[..., 0], q[..., 0]) + 1
    ih = np.minimum(b[..., 3], q[..., 3]) - np.maximum(b[..., 1], q[..., 1]) + 1
    area_b = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    area_q = (query[:, 2] - query[:, 0] + 1) * (query[:, 3] - query[:, 1] + 1)
    inter = iw * ih
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = inter / (area_b[:, None] + area_q[None, :] - inter)
    return np.where((iw > 0) & (ih > 0), iou, 0.0)


def _corners(xywh: np.ndarray) -> np.ndarray:
    out = np.array(xywh[:, :4], dtype=np.float64)
    out[:, 2:] += out[:, :2]
    return out


def match_image(max_overlap: np.ndarray, gt_index: np.ndarray, keep: np.ndarray,
                iou_thresh: float = IOU_THRESH) -> tuple[np.ndarray, np.ndarray]:
    """The official per-image matching, given each prediction's best face and its IoU.

    Args:
        max_overlap: (N,) best IoU of each prediction (predictions sorted by score, descending).
        gt_index: (N,) index of that face.
        keep: (K,) bool, the faces that count in the setting.
        iou_thresh: IoU for a match.

    Returns:
        pred_recall (N,): faces recalled by predictions 0..n; proposal (N,) bool: False for the
        predictions ignored because they match a face the setting does not keep.
    """
    hit = max_overlap >= iou_thresh
    kept = keep[gt_index]
    proposal = ~(hit & ~kept)
    counted = np.nonzero(hit & kept)[0]
    first = np.zeros(len(max_overlap), dtype=np.int64)
    _, first_pos = np.unique(gt_index[counted], return_index=True)
    first[counted[first_pos]] = 1
    return np.cumsum(first), proposal


def image_eval(pred: np.ndarray, gt: np.ndarray, keep: np.ndarray,
               iou_thresh: float = IOU_THRESH) -> tuple[np.ndarray, np.ndarray]:
    """Official ``image_eval``: ``pred`` (N, 5) x y w h score sorted by score, ``gt`` (K, 4) x y w h."""
    overlaps = bbox_overlaps(_corners(pred), _corners(gt))
    return match_image(overlaps.max(1), overlaps.argmax(1), np.asarray(keep, bool), iou_thresh)


def thresholds(thresh_num: int = THRESH_NUM) -> np.ndarray:
    """The official score thresholds ``1 - t / thresh_num``, t = 1..thresh_num."""
    return 1 - (np.arange(thresh_num) + 1) / thresh_num


def image_pr_info(scores: np.ndarray, proposal: np.ndarray, pred_recall: np.ndarray,
                  thresh_num: int = THRESH_NUM) -> np.ndarray:
    """Official ``img_pr_info``: (thresh_num, 2) proposals and recalled faces per threshold.

    ``scores`` must be sorted descending; the predictions above a threshold are then a prefix.
    """
    above = np.searchsorted(-np.asarray(scores, np.float64), -thresholds(thresh_num), side='right')
    cum_proposals = np.concatenate([[0], np.cumsum(proposal)])
    recalled = np.where(above > 0, np.asarray(pred_recall)[np.maximum(above - 1, 0)], 0)
    return np.stack([cum_proposals[above], recalled], axis=1).astype(np.float64)


def dataset_pr_info(pr_curve: np.ndarray, count_face: int) -> tuple[np.ndarray, np.ndarray]:
    """Official ``dataset_pr_info``: (precision, recall) per threshold (0/0 precision -> 0)."""
    proposals, recalled = pr_curve[:, 0], pr_curve[:, 1]
    with np.errstate(divide='ignore', invalid='ignore'):
        precision = np.where(proposals > 0, recalled / proposals, 0.0)
    return precision, recalled / count_face


def voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """Official ``voc_ap``: area under the precision envelope, summed where recall changes."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _image_key(name: str) -> str:
    base, ext = osp.splitext(name)
    return base if ext.lower() in ('.jpg', '.jpeg', '.png') else name


def normalise_predictions(pred: PredDict, events: list[WiderEvalEvent]) -> PredDict:
    """Predictions of the ground-truth images, sorted by score, scores min-max normalised over all.

    Raises:
        ValueError: A prediction array that is not (N, 5) or has a non-finite value.
    """
    out: PredDict = {}
    for event in events:
        given = {_image_key(k): v for k, v in pred.get(event.name, {}).items()}
        for img in event.images:
            boxes = given.get(img.name)
            if boxes is None or len(boxes) == 0:
                continue
            boxes = np.array(boxes, dtype=np.float64)
            if boxes.ndim != 2 or boxes.shape[1] != 5 or not np.isfinite(boxes).all():
                raise ValueError(f'predictions of {event.name}/{img.name}: expected a finite (N, 5) array '
                                 f'of x, y, w, h, score; got shape {boxes.shape}')
            order = np.argsort(-boxes[:, 4], kind='stable')
            out.setdefault(event.name, {})[img.name] = boxes[order]
    scores = [b[:, 4] for ev in out.values() for b in ev.values()]
    if scores:
        lo, hi = min(s.min() for s in scores), max(s.max() for s in scores)
        for ev in out.values():
            for b in ev.values():
                b[:, 4] = (b[:, 4] - lo) / (hi - lo) if hi > lo else 1.0
    return out


def widerface_pr_curves(pred: PredDict, events: list[WiderEvalEvent], iou_thresh: float = IOU_THRESH,
                        thresh_num: int = THRESH_NUM) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Per setting: (precision, recall, number of faces kept), one entry per threshold.

    A setting that keeps no face gets NaN precision and recall.
    """
    norm = normalise_predictions(pred, events)
    curves = {s: np.zeros((thresh_num, 2)) for s in SETTINGS}
    faces = dict.fromkeys(SETTINGS, 0)
    for event in events:
        preds = norm.get(event.name, {})
        for img in event.images:
            for setting in SETTINGS:
                faces[setting] += len(img.keep[setting])
            boxes = preds.get(img.name)
            if boxes is None or len(img.boxes) == 0:
                continue
            overlaps = bbox_overlaps(_corners(boxes), _corners(img.boxes))
            best, best_idx = overlaps.max(1), overlaps.argmax(1)
            for setting in SETTINGS:
                keep = np.zeros(len(img.boxes), dtype=bool)
                keep[img.keep[setting]] = True
                pred_recall, proposal = match_image(best, best_idx, keep, iou_thresh)
                curves[setting] += image_pr_info(boxes[:, 4], proposal, pred_recall, thresh_num)
    out = {}
    for setting in SETTINGS:
        if faces[setting] == 0:
            nan = np.full(thresh_num, np.nan)
            out[setting] = (nan, nan, 0)
        else:
            out[setting] = (*dataset_pr_info(curves[setting], faces[setting]), faces[setting])
    return out


def evaluate_widerface_events(pred: PredDict, events: list[WiderEvalEvent], iou_thresh: float = IOU_THRESH,
                              thresh_num: int = THRESH_NUM) -> dict[str, float]:
    """AP per setting for ground truth already loaded with :func:`load_widerface_gt`."""
    curves = widerface_pr_curves(pred, events, iou_thresh, thresh_num)
    aps = {}
    for setting, (precision, recall, faces) in curves.items():
        if faces == 0:
            warnings.warn(f'WIDER FACE evaluation: the {setting} setting keeps no face in the ground truth; '
                          'its AP is undefined (NaN)', stacklevel=2)
            aps[setting] = float('nan')
        else:
            aps[setting] = voc_ap(recall, precision)
    return aps


def evaluate_widerface(pred: PredDict, gt_dir: str, iou_thresh: float = IOU_THRESH,
                       thresh_num: int = THRESH_NUM) -> dict[str, float]:
    """Official WIDER FACE AP: ``dict(easy=..., medium=..., hard=...)``.

    Args:
        pred: ``{event: {image_name: (N, 5) array of x, y, w, h, score}}``; image names with or
            without extension, as in the official prediction folders (``<event>/<name>.txt``).
        gt_dir: Folder with ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat``.
        iou_thresh: IoU for a match (official: 0.5).
        thresh_num: Number of score thresholds (official: 1000).
    """
    return evaluate_widerface_events(pred, load_widerface_gt(gt_dir), iou_thresh, thresh_num)
