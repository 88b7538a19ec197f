"""Evaluation: the official WIDER FACE protocol (easy / medium / hard AP).

Importing this package registers the metrics in :data:`mcudet.registry.METRICS` (the
registry's ``locations=['mcudet.evaluation']`` imports it on first use).
"""
from .widerface_eval import evaluate_widerface, evaluate_widerface_events, voc_ap, widerface_pr_curves
from .widerface_metric import WIDERFaceMetric, image_key, write_official_predictions

__all__ = ['WIDERFaceMetric', 'evaluate_widerface', 'evaluate_widerface_events', 'voc_ap',
           'widerface_pr_curves', 'image_key', 'write_official_predictions']

# isort: split
from .classification_metric import Accuracy  # noqa: F401
