"""WIDER FACE easy / medium / hard AP as an mmengine metric."""
import os.path as osp
import warnings
from collections.abc import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mcudet.datasets.report import atomic_write_text
from mcudet.datasets.wider_face_mat import SETTINGS, load_widerface_gt
from mcudet.registry import METRICS

from .widerface_eval import IOU_THRESH, THRESH_NUM, PredDict, evaluate_widerface, evaluate_widerface_events

__all__ = ['WIDERFaceMetric', 'evaluate_widerface', 'image_key', 'write_official_predictions']


def image_key(img_path: str) -> tuple[str, str]:
    """(event, image name) from an image path: the parent folder and the file name without extension.

    Works for the official layout (``WIDER_val/images/<event>/<name>.jpg``) and mmdet's XML one
    (``WIDER_val/<event>/<name>.jpg``).
    """
    return osp.basename(osp.dirname(img_path)), osp.splitext(osp.basename(img_path))[0]


def write_official_predictions(out_dir: str, pred: PredDict) -> int:
    """Write ``<out_dir>/<event>/<name>.txt`` files that the official MATLAB/Python tools read.

    Each file: the image name, the number of boxes, then ``x y w h score`` per box.

    Returns:
        The number of files written.
    """
    n = 0
    for event, images in pred.items():
        for name, boxes in images.items():
            rows = [' '.join(f'{v:.3f}' for v in row[:4]) + f' {row[4]:.6f}' for row in boxes]
            atomic_write_text(osp.join(out_dir, event, f'{name}.txt'),
                              '\n'.join([name, str(len(rows)), *rows]) + '\n')
            n += 1
    return n


@METRICS.register_module()
class WIDERFaceMetric(BaseMetric):
    """The official WIDER FACE evaluation: AP on the easy, medium and hard settings.

    Predictions are mapped to (event, image) through each sample's ``img_path`` (see
    :func:`image_key`); boxes are converted from mmdet's corners to the official ``x y w h``.
    Results are logged as ``widerface/easy``, ``widerface/medium``, ``widerface/hard``.

    Args:
        gt_dir: Folder with the official ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat``
            (``eval_tools/ground_truth``, or ``ground_truth`` of a set written by
            ``tools/dataset_converters/make_synthetic.py wider``). Read when the metric is built, so a
            wrong path fails before training.
        iou_thr: IoU for a match (official: 0.5).
        thresh_num: Score thresholds of the PR curve (official: 1000).
        score_thr: Drop predictions below this score before evaluating (0 keeps all, as the official
            protocol expects).
        outfile_prefix: If set, also write the predictions as official per-image txt files under
            this folder, for the official MATLAB tool.
        collect_device: 'cpu' or 'gpu', for collecting results across ranks.
        prefix: Metric name prefix; default 'widerface'.
    """

    default_prefix = 'widerface'

    def __init__(self, gt_dir: str, iou_thr: float = IOU_THRESH, thresh_num: int = THRESH_NUM,
                 score_thr: float = 0.0, outfile_prefix: str | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.gt_dir = gt_dir
        self.gt_events = load_widerface_gt(gt_dir)
        self.iou_thr = iou_thr
        self.thresh_num = thresh_num
        self.score_thr = score_thr
        self.outfile_prefix = outfile_prefix

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep (event, image name, (N, 5) x y w h score) per sample."""
        for sample in data_samples:
            pred = sample['pred_instances']
            bboxes = _numpy(pred['bboxes']).reshape(-1, 4).astype(np.float64)
            scores = _numpy(pred['scores']).reshape(-1).astype(np.float64)
            keep = scores >= self.score_thr
            xywh = np.concatenate([bboxes[keep, :2], bboxes[keep, 2:] - bboxes[keep, :2],
                                   scores[keep, None]], axis=1)
            self.results.append((*image_key(sample['img_path']), xywh))

    def compute_metrics(self, results: list) -> dict[str, float]:
        logger = MMLogger.get_current_instance()
        pred: PredDict = {}
        for event, name, boxes in results:
            pred.setdefault(event, {})[name] = boxes  # a repeated image (padded last batch) is the same
        self._check_coverage(pred, logger)
        if self.outfile_prefix:
            n = write_official_predictions(self.outfile_prefix, pred)
            logger.info(f'WIDERFaceMetric: wrote {n} prediction files under {self.outfile_prefix}')
        aps = evaluate_widerface_events(pred, self.gt_events, self.iou_thr, self.thresh_num)
        logger.info('WIDER FACE AP  ' + '  '.join(f'{s}: {aps[s]:.4f}' for s in SETTINGS))
        return aps

    def _check_coverage(self, pred: PredDict, logger: MMLogger) -> None:
        """Warn when predictions and ground truth describe different images (a wrong gt_dir)."""
        gt_keys = {(e.name, img.name) for e in self.gt_events for img in e.images}
        got = {(event, name) for event, images in pred.items() for name in images}
        unknown = sorted(got - gt_keys)
        missing = len(gt_keys - got)
        if unknown:
            msg = (f'WIDERFaceMetric: {len(unknown)} of {len(got)} evaluated images are not in {self.gt_dir} '
                   f'(e.g. {"/".join(unknown[0])}); they are not scored. Does gt_dir match the val dataset?')
            logger.warning(msg)
            warnings.warn(msg, stacklevel=3)
        if missing:
            logger.warning(f'WIDERFaceMetric: {missing} of {len(gt_keys)} ground-truth images were not '
                           'evaluated; their faces count as missed')


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else np.asarray(value)
