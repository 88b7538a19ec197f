from .tiny_yolo_head import TinyYOLOV3Head

__all__ = ['TinyYOLOV3Head']
