"""Classification heads (mmpretrain's names): the linear classifier of MCUNet / ProxylessNAS."""
from .cls_head import ClsHead, LinearClsHead, topk_accuracy

__all__ = ['ClsHead', 'LinearClsHead', 'topk_accuracy']
