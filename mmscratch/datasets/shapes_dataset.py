"""``ShapesDataset``: COCO-format loader for the generated shapes dataset.

A plain ``CocoDataset`` whose metainfo (class names, palette) is the
generator's, so configs name the type instead of copying the class list.
"""
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .shapes_render import SHAPE_CLASSES


@DATASETS.register_module()
class ShapesDataset(CocoDataset):
    """The generated shapes dataset (``tools/make_shapes_dataset.py``)."""

    METAINFO = dict(
        classes=SHAPE_CLASSES,
        palette=[(220, 20, 60), (0, 130, 230), (255, 170, 0), (60, 180, 75),
                 (145, 30, 180)][:len(SHAPE_CLASSES)])
