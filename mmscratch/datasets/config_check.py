"""Whether the files a config's datasets and evaluators name exist (checked before a run).

A missing annotation file or data root otherwise surfaces as a
``FileNotFoundError`` from deep inside a dataset constructor, after the model
was built; :func:`find_missing_dataset_files` names the config key, the path
and what it was resolved against.
"""
from __future__ import annotations

import os.path as osp

_DATALOADERS = ('train_dataloader', 'val_dataloader')


def _iter_datasets(dataset_cfg, where: str):
    """(dataset config, its config path) through wrappers (Concat, Repeat, ...)."""
    if isinstance(dataset_cfg, dict):
        yield dataset_cfg, where
        if isinstance(dataset_cfg.get('dataset'), dict):
            yield from _iter_datasets(dataset_cfg['dataset'], where + '.dataset')
        for i, child in enumerate(dataset_cfg.get('datasets') or []):
            yield from _iter_datasets(child, f'{where}.datasets.{i}')


def _is_remote(path: str) -> bool:
    return '://' in path


def find_missing_dataset_files(cfg, dataloaders=_DATALOADERS, evaluator: bool = True) -> list:
    """Problems with the annotation files of the train/val datasets and evaluator
    (``dataloaders`` / ``evaluator`` narrow it, e.g. to what training alone reads)."""
    problems = []
    for key in dataloaders:
        loader = cfg.get(key)
        if not isinstance(loader, dict):
            continue
        for ds, where in _iter_datasets(loader.get('dataset'), key + '.dataset'):
            ann_file = ds.get('ann_file')
            if not isinstance(ann_file, str) or not ann_file or _is_remote(ann_file):
                continue
            data_root = ds.get('data_root') or ''
            if isinstance(data_root, str) and data_root and not _is_remote(data_root) \
                    and not osp.isdir(data_root):
                problems.append(f'{where}.data_root: dataset root not found: {data_root} '
                                f'(absolute: {osp.abspath(data_root)})')
                continue
            path = ann_file if osp.isabs(ann_file) or not data_root else \
                osp.join(data_root, ann_file)
            if not osp.isfile(path):
                problems.append(f'{where}: annotation file not found: {path} (data_root='
                                f'{data_root!r}, ann_file={ann_file!r})')
    evaluators = cfg.get('val_evaluator') if evaluator else None
    for i, evaluator in enumerate(evaluators if isinstance(evaluators, list) else [evaluators]):
        ann_file = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
        if isinstance(ann_file, str) and ann_file and not _is_remote(ann_file) \
                and not osp.isfile(ann_file):
            where = 'val_evaluator' + (f'.{i}' if isinstance(evaluators, list) else '')
            problems.append(f'{where}.ann_file: annotation file not found: {ann_file}')
    return problems
