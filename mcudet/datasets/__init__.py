"""Datasets: WIDER FACE from the official txt, checked VOC, synthetic sets and the file formats.

Importing this package registers the datasets in :data:`mcudet.registry.DATASETS` (the
registry's ``locations=['mcudet.datasets']`` imports it on first use).
"""
from .report import AnnotationError, AnnotationWarning, ProblemReport
from .synthetic import SHAPE_CLASSES, ShapeObject, generate_synthetic_voc, render_shapes_image
from .synthetic_faces import generate_synthetic_wider, render_faces_image, setting_keep
from .voc import MCUVOCDataset
from .wider_face import WIDERFaceTxtDataset
from .wider_face_format import WiderFaceBox, WiderImageAnn, iter_bbx_gt, read_bbx_gt, write_bbx_gt
from .wider_face_mat import (
                             SETTINGS,
                             WiderEvalEvent,
                             WiderEvalImage,
                             load_widerface_gt,
                             write_widerface_gt_mats,
)

__all__ = [
    'AnnotationError', 'AnnotationWarning', 'ProblemReport', 'SHAPE_CLASSES', 'ShapeObject',
    'generate_synthetic_voc', 'render_shapes_image', 'generate_synthetic_wider', 'render_faces_image',
    'setting_keep', 'MCUVOCDataset', 'WIDERFaceTxtDataset', 'WiderFaceBox', 'WiderImageAnn',
    'iter_bbx_gt', 'read_bbx_gt', 'write_bbx_gt', 'SETTINGS', 'WiderEvalEvent', 'WiderEvalImage',
    'load_widerface_gt', 'write_widerface_gt_mats',
]

# isort: split
from .classification import (  # noqa: F401
    CustomDataset,
    ImageNet,
    VisualWakeWords,
    generate_synthetic_cls,
    render_person_image,
)
from .transforms import ColorJitter, PackInputs, RandomResizedCrop, ResizeEdge  # noqa: F401
