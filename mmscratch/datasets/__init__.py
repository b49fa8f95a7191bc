"""Datasets: the generated shapes dataset, validation, robust loading."""
from .check import check_coco_dataset
from .robust_loading import RobustLoadImageFromFile, TooManyBadImages
from .shapes import dataset_is_complete, generate_shapes_dataset
from .shapes_render import SHAPE_CLASSES
from .shapes_dataset import ShapesDataset

__all__ = [
    'SHAPE_CLASSES', 'generate_shapes_dataset', 'dataset_is_complete', 'ShapesDataset',
    'check_coco_dataset', 'RobustLoadImageFromFile', 'TooManyBadImages'
]
