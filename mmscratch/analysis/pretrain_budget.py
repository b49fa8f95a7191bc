"""Figure 3's pre-training bar for a pre-training *config* instead of ImageNet.

``tools/data_budget.py`` knows ImageNet's numbers (1.28M images x 100
epochs of 224x224 crops). A run that pre-trains on another classification set
-- the mini paper's generated 100-class set
(:mod:`mmscratch.datasets.pretrain_set`) -- is counted from its config
instead: the training set's images (its annotation file, MMEngine's
``BaseDataset`` format), one labelled object per image as ImageNet is
counted, input pixels after the config's train pipeline, and the images the
schedule shows (iterations x batch at the schedule's own batch).
"""
from __future__ import annotations

import os.path as osp
from typing import Optional, Tuple

from ..utils.run_files import read_json_file
from .data_budget import DatasetStats, config_schedule, images_of, input_pixels


def _train_dataset(cfg) -> dict:
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    while 'dataset' in dataset and 'ann_file' not in dataset:
        dataset = dataset['dataset']
    return dataset


def cls_set_stats(ann_file: str, pipeline, name: Optional[str] = None) -> DatasetStats:
    """Statistics of a classification set in MMEngine's format (read as data).

    The image size comes from ``metainfo.mmscratch_params.image_size`` (the
    generator records it); every image of the generated set has that size.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    document = read_json_file(ann_file, max_bytes=256 << 20)
    data_list = document.get('data_list') if isinstance(document, dict) else None
    if not isinstance(data_list, list) or not data_list:
        raise ValueError(f'{ann_file}: no data_list (not a classification annotation file)')
    params = (document.get('metainfo') or {}).get('mmscratch_params') or {}
    size = params.get('image_size')
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f'{ann_file}: metainfo.mmscratch_params.image_size is missing; '
                         'cannot tell the images\' size')
    classes = len((document.get('metainfo') or {}).get('classes') or [])
    label = name or f'generated {classes}-class set'
    return DatasetStats(label, len(data_list), 1.0, input_pixels(size, size, pipeline),
                        ann_file)


def pretrain_config_budget(cfg) -> Tuple[DatasetStats, int]:
    """``(statistics of the pre-training set, images the schedule shows)``."""
    dataset = _train_dataset(cfg)
    ann_file = dataset.get('ann_file')
    if not ann_file:
        raise ValueError('the pre-training config has no train_dataloader.dataset.ann_file')
    root = dataset.get('data_root') or ''
    if root and not osp.isabs(ann_file):
        ann_file = osp.join(root, ann_file)
    pipeline = dataset.get('pipeline') or cfg.get('train_pipeline') or []
    stats = cls_set_stats(ann_file, pipeline)
    schedule = config_schedule(cfg)
    return stats, images_of(schedule, schedule['batch'], stats.images)
