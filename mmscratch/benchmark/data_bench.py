"""Data-pipeline benchmark: images/s of one worker running a config's
training pipeline, with the time of each transform.

A dataloader worker is one process doing ``dataset[i]``: ``get_data_info``
(a deep copy of the parsed annotation) followed by the pipeline's
transforms. :class:`DataBench` does exactly that in this process, with
OpenCV and PyTorch held to one thread, so its images/s is the throughput of
one worker on one core; N cores feed about N times that.

Input is either generated COCO-style files (JPEGs + polygon masks, see
:func:`mmscratch.benchmark.synthetic.generate_coco_images`, 1333x800 and 7
instances an image by default) or the config's own training dataset.
"""
from __future__ import annotations

import copy
import tempfile
import time
from collections import defaultdict
from typing import List, Optional, Tuple

from ..utils.config_loading import load_config
from .common import MemoryMeter, register_modules, time_stats, versions
from .synthetic import (COCO_IMAGE_SIZE, COCO_INSTANCES_PER_IMAGE,
                        generate_coco_images)


def _innermost_dataset(dataset_cfg):
    while isinstance(dataset_cfg.get('dataset'), dict):
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def find_train_pipeline(cfg) -> list:
    """The training pipeline: ``train_dataloader``'s dataset (through
    wrappers such as RepeatDataset), else the top-level ``train_pipeline``."""
    loader = cfg.get('train_dataloader')
    if isinstance(loader, dict) and isinstance(loader.get('dataset'), dict):
        ds = _innermost_dataset(loader['dataset'])
        if ds.get('pipeline'):
            return list(ds['pipeline'])
    if cfg.get('train_pipeline'):
        return list(cfg['train_pipeline'])
    raise KeyError('config has no train_dataloader.dataset.pipeline nor train_pipeline')


class DataBench:
    """One config's training pipeline on generated or real data."""

    def __init__(self, config: str, data_dir: Optional[str] = None,
                 num_images: int = 16,
                 image_size: Tuple[int, int] = COCO_IMAGE_SIZE,
                 num_instances: int = COCO_INSTANCES_PER_IMAGE,
                 input: str = 'synthetic', cfg_options: Optional[dict] = None,
                 seed: int = 0):
        import cv2
        import torch
        # one worker == one core: no intra-op threads in OpenCV or PyTorch
        cv2.setNumThreads(1)
        torch.set_num_threads(1)
        register_modules()
        from mmdet.registry import DATASETS, TRANSFORMS

        self.config = config
        self.input = input
        self.image_size = list(image_size)
        self.num_instances = num_instances
        cfg = load_config(config, cfg_options)
        pipeline = find_train_pipeline(cfg)
        if input == 'synthetic':
            if data_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix='mmscratch_bench_')
                data_dir = self._tmp.name
            generate_coco_images(data_dir, num_images, tuple(image_size), num_instances, seed)
            from mmdet.datasets import CocoDataset
            self.dataset = CocoDataset(
                data_root=data_dir, ann_file='instances.json',
                data_prefix=dict(img='images/'), metainfo=dict(classes=('object',)),
                filter_cfg=None, pipeline=[], test_mode=False)
        elif input == 'real':
            ds_cfg = copy.deepcopy(_innermost_dataset(cfg.train_dataloader.dataset))
            ds_cfg['pipeline'] = []
            self.dataset = DATASETS.build(ds_cfg)
            self.image_size = None
        else:
            raise ValueError(f"input must be 'synthetic' or 'real', got {input!r}")
        self.dataset.full_init()
        self.transforms = [TRANSFORMS.build(copy.deepcopy(t)) for t in pipeline]
        self.names = self._unique_names(pipeline)
        self.memory = MemoryMeter('cpu')
        self.records: List[dict] = []
        self._index = 0

    @staticmethod
    def _unique_names(pipeline) -> List[str]:
        names, counts = [], defaultdict(int)
        for t in pipeline:
            name = t['type'] if isinstance(t['type'], str) else t['type'].__name__
            counts[name] += 1
            names.append(name if counts[name] == 1 else f'{name}#{counts[name]}')
        return names

    def step(self, record: bool = True) -> dict:
        """Load one sample as a dataloader worker would; returns its times."""
        idx = self._index % len(self.dataset)
        self._index += 1
        t0 = time.perf_counter()
        results = self.dataset.get_data_info(idx)
        stages = {'get_data_info': time.perf_counter() - t0}
        for name, transform in zip(self.names, self.transforms):
            t = time.perf_counter()
            results = transform(results)
            stages[name] = time.perf_counter() - t
            if results is None:  # a transform filtered the sample out
                break
        rec = dict(total_s=time.perf_counter() - t0, stages=stages)
        if record:
            self.records.append(rec)
        return rec

    def result(self, warmup_iters: int) -> dict:
        recs = self.records
        totals = [r['total_s'] for r in recs]
        keys = ['get_data_info'] + self.names
        stages = {k: sum(r['stages'].get(k, 0.0) for r in recs) / len(recs) for k in keys}
        mean = sum(totals) / len(totals)
        return dict(
            config=self.config, device='cpu', mode='data', input=self.input,
            image_size=self.image_size, batch_size=1,
            warmup_iters=warmup_iters, iters=len(recs),
            s_per_iter=time_stats(totals),
            images_per_s=len(recs) / sum(totals),
            data_time_s=mean, compute_time_s=0.0,
            peak_mem_mb=round(self.memory.peak_mb, 1),
            stages_s=stages,
            versions=versions(),
            cudnn_benchmark=False, amp=False,
            workers=1, threads_per_worker=1,
            instances_per_image=self.num_instances if self.input == 'synthetic' else None,
            num_samples=len(self.dataset),
            pipeline=self.names,
        )
