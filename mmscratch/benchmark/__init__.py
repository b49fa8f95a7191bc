"""Benchmarks of training throughput and of the data pipeline.

``tools/benchmark.py`` is the command line (:mod:`mmscratch.apis.benchmark`); the train
benchmark lives in :mod:`.train_bench`, the data-pipeline benchmark in
:mod:`.data_bench`, synthetic inputs in :mod:`.synthetic` and per-stage
timers in :mod:`.stages`. Nothing here is imported by ``import mmscratch``:
it pulls in MMDetection's models and datasets only when used.
"""
from .synthetic import generate_coco_images, make_train_batch

__all__ = ['generate_coco_images', 'make_train_batch']
