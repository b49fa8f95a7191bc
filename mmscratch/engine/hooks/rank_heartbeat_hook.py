"""``RankHeartbeatHook``: each rank's progress in the job's store, so a hung
collective names the rank that stopped answering.

When it runs (distributed runs only; a single process has nothing to do):

* ``before_train``: logs the collective timeout the process group really has
  (``env_cfg.dist_cfg.timeout``, the same setting for gloo and NCCL) and the
  world size.
* ``before_train_iter``, ``before_val``, ``before_save_checkpoint``, and
  ``after_train``: writes ``progress/<rank>`` (iteration, phase, host, pid,
  time) into the process group's key-value store, at most every
  ``interval_s`` seconds unless the phase changes (one small ``set``: no
  collective, nothing waits for it).

What it changes: nothing in training. When a collective fails,
``tools/train.py`` reads these records (:func:`mmscratch.utils.rank_health.diagnose`)
to end the job with one line naming the rank that stopped answering, its
host, pid and the last iteration it was seen in.
"""
from __future__ import annotations

import time

from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ...utils.dist import process_group_timeout_s
from ...utils.rank_health import default_store, post_progress


@HOOKS.register_module()
class RankHeartbeatHook(Hook):
    """Record this rank's progress for the diagnosis of hung collectives.

    Args:
        interval_s: least time between two records of the same phase.
    """

    priority = 'HIGHEST'  # before the other hooks' collectives of the iteration

    def __init__(self, interval_s: float = 1.0):
        if not interval_s >= 0:
            raise ValueError(f'RankHeartbeatHook: interval_s must be >= 0, got {interval_s}')
        self.interval_s = interval_s
        self._store = None
        self._last = (None, 0.0)  # (phase, time) of the last record

    def before_train(self, runner) -> None:
        if get_world_size() <= 1:
            return
        self._store = default_store()
        timeout = process_group_timeout_s()
        cfg_timeout = ((runner.cfg.get('env_cfg') or {}).get('dist_cfg') or {}).get('timeout') \
            if runner.cfg else None
        shown = f'{timeout:g} s' if timeout is not None else (
            f'{cfg_timeout} s (as configured)' if cfg_timeout else 'the backend default')
        where = 'recorded in the job store' if self._store is not None else \
            'not recorded (no store: a hang will not name the rank)'
        runner.logger.info(
            f'RankHeartbeatHook: collective timeout {shown} (env_cfg.dist_cfg.timeout), '
            f'{get_world_size()} ranks: a rank silent that long ends the job with its name; '
            f'progress {where}')
        self._beat(runner, 0, 'train', force=True)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._beat(runner, 1, 'train')

    def before_val(self, runner) -> None:
        self._beat(runner, 0, 'val', force=True)

    def after_val(self, runner) -> None:
        self._beat(runner, 0, 'train', force=True)

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        self._beat(runner, 0, 'save', force=True)

    def after_train(self, runner) -> None:
        self._beat(runner, 0, 'done', force=True)

    def _beat(self, runner, offset: int, phase: str, force: bool = False) -> None:
        """Record ``runner.iter + offset`` and ``phase`` (nothing without a store)."""
        if self._store is None:
            return
        iteration = runner.iter + offset
        now = time.time()
        last_phase, last_time = self._last
        if not force and phase == last_phase and now - last_time < self.interval_s:
            return
        post_progress(self._store, get_rank(), iteration, phase)
        self._last = (phase, now)
