"""``ClsAccuracy``: top-k accuracy of :class:`~mmscratch.models.classifier.BackboneClassifier`."""
from __future__ import annotations

from typing import List, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmdet.registry import METRICS


@METRICS.register_module()
class ClsAccuracy(BaseMetric):
    """Top-k accuracy (in [0, 1]) over the validation set: ``cls/top1``, ``cls/top5``.

    Args:
        topk: the k values.
    """

    default_prefix = 'cls'

    def __init__(self, topk: Sequence[int] = (1, 5), **kwargs):
        super().__init__(**kwargs)
        self.topk = tuple(sorted({int(k) for k in topk}))
        if not self.topk or self.topk[0] < 1:
            raise ValueError(f'topk must hold positive integers, got {topk}')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            score = sample['pred_score']
            k = min(max(self.topk), score.numel())
            ranked = torch.topk(score, k).indices.tolist()
            label = int(sample['gt_label'])
            self.results.append({f'top{k_}': float(label in ranked[:k_]) for k_ in self.topk})

    def compute_metrics(self, results: List[dict]) -> dict:
        if not results:
            raise ValueError('ClsAccuracy: no predictions to evaluate')
        return {key: sum(r[key] for r in results) / len(results) for key in results[0]}
