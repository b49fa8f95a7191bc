"""Metrics of mmscratch (registered in MMDetection's METRICS)."""
from .cls_accuracy import ClsAccuracy

__all__ = ['ClsAccuracy']
