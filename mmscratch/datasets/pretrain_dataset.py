"""``GeneratedClsDataset`` and ``PackClsInputs``: the pre-training set as MMEngine data.

The annotation file is MMEngine's ``BaseDataset`` format
(:mod:`mmscratch.datasets.pretrain_set` writes it). A file handed to us is
data, checked before anything trains: it is parsed as JSON, never executed;
``metainfo.classes`` must be a list of names; every record of ``data_list``
must be ``{"img_path": <a plain file name>, "gt_label": <int in range>}``. A
path that could leave the image folder (``/``, ``..``) or a label outside the
class list is one ``ValueError`` naming the file, the record and the field.
"""
from __future__ import annotations

import json
import os.path as osp
import re
from typing import List

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmdet.registry import DATASETS, TRANSFORMS

_FILE_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')
MAX_ANNOTATION_BYTES = 512 << 20


@DATASETS.register_module()
class GeneratedClsDataset(BaseDataset):
    """An image-classification set in MMEngine's format (one label per image).

    The class names come from the file's ``metainfo.classes``; ``data_prefix``
    is ``dict(img_path='train/')`` as usual.
    """

    def load_data_list(self) -> List[dict]:
        path = self.ann_file
        if not osp.isfile(path):
            raise FileNotFoundError(f'annotation file not found: {path}')
        if osp.getsize(path) > MAX_ANNOTATION_BYTES:
            raise ValueError(f'{path}: larger than {MAX_ANNOTATION_BYTES >> 20} MiB')
        try:
            with open(path, encoding='utf-8') as f:
                document = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f'{path}: not a JSON annotation file ({exc})') from None
        if not isinstance(document, dict) or not isinstance(document.get('data_list'), list):
            raise ValueError(f'{path}: needs a "data_list" list (MMEngine BaseDataset format)')
        metainfo = document.get('metainfo')
        classes = metainfo.get('classes') if isinstance(metainfo, dict) else None
        if not isinstance(classes, list) or not classes or \
                not all(isinstance(c, str) for c in classes):
            raise ValueError(f'{path}: metainfo.classes must be a non-empty list of names')
        self._metainfo.setdefault('classes', tuple(classes))
        if list(self._metainfo['classes']) != classes:
            raise ValueError(f'{path}: metainfo.classes differ from the dataset\'s classes '
                             f'({len(classes)} vs {len(self._metainfo["classes"])})')
        for key in ('dataset_version', 'mmscratch_params'):
            if key in metainfo:
                self._metainfo.setdefault(key, metainfo[key])
        prefix = self.data_prefix.get('img_path', '')
        data_list = []
        for i, record in enumerate(document['data_list']):
            where = f'{path}: data_list[{i}]'
            if not isinstance(record, dict):
                raise ValueError(f'{where}: not an object')
            name, label = record.get('img_path'), record.get('gt_label')
            if not isinstance(name, str) or not _FILE_NAME.match(name) or '..' in name:
                raise ValueError(f'{where}.img_path: {name!r:.80} is not a plain file name')
            if isinstance(label, bool) or not isinstance(label, int) or \
                    not 0 <= label < len(classes):
                raise ValueError(f'{where}.gt_label: {label!r:.40} is not a class index in '
                                 f'[0, {len(classes)})')
            data_list.append(dict(img_path=osp.join(prefix, name), gt_label=label))
        if not data_list:
            raise ValueError(f'{path}: data_list is empty')
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict:  # paths joined above
        return raw_data_info


@TRANSFORMS.register_module()
class PackClsInputs(BaseTransform):
    """``img`` (HWC) -> ``inputs`` (CHW uint8 tensor); ``gt_label`` -> ``data_samples``."""

    def transform(self, results: dict) -> dict:
        img = np.ascontiguousarray(results['img'])
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(img.transpose(2, 0, 1).copy())
        return dict(inputs=inputs, data_samples=int(results['gt_label']))
