"""``DataSeenHook``: images, annotated instances and pixels processed (Figure 3).

When it runs: ``after_train_iter`` (counts the batch on this rank; every
``sync_interval`` iterations, on iterations a checkpoint will be saved at, and
before each validation and the end of training it sums the counts over all
ranks with one all-reduce -- on every rank, since ``before_save_checkpoint``
runs on rank 0 only),
``before_save_checkpoint`` / ``after_load_checkpoint`` (stores and restores
the totals, so they survive resume).

What it changes: nothing in training. It publishes the totals in the message
hub (``data_seen/images``, ``data_seen/instances``, ``data_seen/pixels``:
read by ``ConvergenceCurveHook`` and the logger) and in checkpoints under
``data_seen``.

Pixels are those of the network input (after resize, before batch padding),
the quantity the paper's Figure 3 compares.
"""
from __future__ import annotations

from typing import Dict

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ...utils.checkpoint_schedule import iter_checkpoint_due

KEYS = ('images', 'instances', 'pixels')


def count_batch(data_batch) -> Dict[str, int]:
    """Images, instances and input pixels of one (per-rank) batch."""
    counts = dict(images=0, instances=0, pixels=0)
    if data_batch is None:
        return counts
    samples = data_batch.get('data_samples') or []
    inputs = data_batch.get('inputs')
    counts['images'] = len(samples) if samples else (len(inputs) if inputs is not None else 0)
    for sample in samples:
        gt = getattr(sample, 'gt_instances', None)
        if gt is not None:
            counts['instances'] += len(gt)
        shape = sample.metainfo.get('img_shape') if hasattr(sample, 'metainfo') else None
        if shape is not None:
            counts['pixels'] += int(shape[0]) * int(shape[1])
    if not counts['pixels'] and inputs is not None:
        for img in inputs:
            counts['pixels'] += int(img.shape[-2]) * int(img.shape[-1])
    return counts


@HOOKS.register_module()
class DataSeenHook(Hook):
    """Count images, instances and pixels seen in training, over all ranks.

    Args:
        sync_interval: iterations between all-reduces of the pending counts
            (the totals are also synced before validation, checkpoints and at
            the end). Keep it a multiple of the logger interval.
    """

    priority = 'VERY_HIGH'  # totals are up to date before other hooks read them

    def __init__(self, sync_interval: int = 50):
        if sync_interval <= 0:
            raise ValueError(f'sync_interval must be > 0, got {sync_interval}')
        self.sync_interval = sync_interval
        self.totals = {k: 0 for k in KEYS}
        self._pending = {k: 0 for k in KEYS}
        self._training = False

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        # Only a resumed run continues the count; ``load_from`` (fine-tuning,
        # evaluation) starts a new run at iteration 0 with nothing seen.
        saved = checkpoint.get('data_seen')
        if saved and getattr(runner, '_resume', False):
            self.totals = {k: int(saved.get(k, 0)) for k in KEYS}
            self._pending = {k: 0 for k in KEYS}
            self._publish(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        for key, value in count_batch(data_batch).items():
            self._pending[key] += value
        if (runner.iter + 1) % self.sync_interval == 0 or iter_checkpoint_due(runner):
            self.sync(runner)

    def before_train(self, runner) -> None:
        self._training = True

    def before_val_epoch(self, runner) -> None:
        # Validation inside training runs on every rank, so the collective
        # sync is safe here; a standalone runner.val() has nothing to count.
        if self._training:
            self.sync(runner)

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        # Rank 0 only (Runner.save_checkpoint is master-only): no collective
        # here. Saves from the train loop were synced in after_train_iter; on a
        # single process the pending counts can simply be added.
        if get_world_size() == 1:
            self.sync(runner)
        checkpoint['data_seen'] = dict(self.totals)

    def after_train(self, runner) -> None:
        self._training = False
        self.sync(runner)
        runner.logger.info('Data seen in training: ' + ', '.join(
            f'{self.totals[k]:,} {k}' for k in KEYS))

    def sync(self, runner) -> None:
        """Add every rank's pending counts to the totals (collective call)."""
        pending = torch.tensor([self._pending[k] for k in KEYS], dtype=torch.float64)
        if get_world_size() > 1:
            all_reduce(pending, op='sum')
        for key, value in zip(KEYS, pending.tolist()):
            self.totals[key] += int(round(value))
        self._pending = {k: 0 for k in KEYS}
        self._publish(runner)

    def _publish(self, runner) -> None:
        for key in KEYS:
            runner.message_hub.update_info(f'data_seen/{key}', self.totals[key])
