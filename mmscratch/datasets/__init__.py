"""Datasets: the synthetic shapes generator (:mod:`.shapes`)."""
from .shapes import SHAPE_CLASSES, dataset_is_complete, generate_shapes_dataset

__all__ = ['SHAPE_CLASSES', 'generate_shapes_dataset', 'dataset_is_complete']
from .shapes_dataset import ShapesDataset  # noqa: E402  (registers the dataset type)
