"""Image classification on mmengine, with mmpretrain's names (mmpretrain itself cannot be imported
on the pinned stack: it needs torchvision)."""
from .data_preprocessor import ClsDataPreprocessor
from .data_sample import ClsDataSample, format_label
from .image import ImageClassifier

__all__ = ['ClsDataPreprocessor', 'ClsDataSample', 'ImageClassifier', 'format_label']
