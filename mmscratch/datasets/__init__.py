"""Datasets: the generated shapes dataset, validation, robust loading."""
from .check import check_coco_dataset
from .pretrain_dataset import GeneratedClsDataset, PackClsInputs
from .pretrain_set import generate_pretrain_dataset, pretrain_set_is_complete
from .robust_loading import RobustLoadImageFromFile, TooManyBadImages
from .shapes import dataset_is_complete, generate_shapes_dataset
from .shapes_render import SHAPE_CLASSES
from .shapes_dataset import ShapesDataset

__all__ = [
    'SHAPE_CLASSES', 'generate_shapes_dataset', 'dataset_is_complete', 'ShapesDataset',
    'check_coco_dataset', 'GeneratedClsDataset', 'PackClsInputs', 'generate_pretrain_dataset',
    'pretrain_set_is_complete', 'RobustLoadImageFromFile', 'TooManyBadImages'
]
