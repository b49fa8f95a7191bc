"""A toy model, dataset and fault hooks for ``tools/train.py`` runs in subprocesses.

Imported by training processes through ``custom_imports`` (the repository
root on ``PYTHONPATH``): the model and dataset of ``toy.py`` (random numbers
drawn in the data pipeline and in the loss, as a detector does, so a resume
that misses an RNG state changes the weights), registered in mmdet's
registries, and hooks that break a run on purpose. A run of 15 iterations
takes well under a second after start-up, on one process or two (gloo DDP).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import List, Optional

from mmengine.hooks import Hook
from mmdet.registry import DATASETS, HOOKS, MODELS

from mmscratch.testing.runners import RandomToyData, RandomToyModel

REPO = Path(__file__).resolve().parents[2]
TOTAL_ITERS = 15
INTERVAL = 5


@MODELS.register_module()
class ToyTrainModel(RandomToyModel):
    """``RandomToyModel`` built from a config."""


@DATASETS.register_module()
class ToyTrainData(RandomToyData):
    """``RandomToyData`` built from a config."""


def _rank() -> int:
    return int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0')))


def _first_time(marker: Optional[str]) -> bool:
    """True the first time any process asks with ``marker`` (a file, O_EXCL)."""
    if marker is None:
        return True
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        return True
    except FileExistsError:
        return False


@HOOKS.register_module()
class ProgressFileHook(Hook):
    """After each iteration: write it to ``path`` (rank 0), then sleep
    ``sleep_s`` from iteration ``slow_from`` on, so that a signal from outside
    lands between two given iterations."""

    priority = 'LOWEST'

    def __init__(self, path: str, slow_from: int = 1, sleep_s: float = 0.0):
        self.path, self.slow_from, self.sleep_s = path, slow_from, sleep_s

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if _rank() == 0:
            Path(self.path).write_text(str(runner.iter + 1))
        if runner.iter + 1 >= self.slow_from:
            time.sleep(self.sleep_s)


@HOOKS.register_module()
class SignalAtIterHook(Hook):
    """Send ``signal`` to this process after iteration ``at`` (on ``rank``),
    the first time only (``once_file``): what a scheduler does."""

    priority = 'HIGHEST'

    def __init__(self, at: int, signal: str = 'SIGTERM', rank: int = 0,
                 once_file: Optional[str] = None):
        self.at, self.signal, self.rank, self.once_file = at, signal, rank, once_file

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at and _rank() == self.rank and _first_time(self.once_file):
            os.kill(os.getpid(), getattr(signal, self.signal))


def write_toy_config(path: Path, *, hooks: List[dict] = (), num_workers: int = 0,
                     interval: int = INTERVAL, max_keep: int = -1, ballast: int = 0,
                     total_iters: int = TOTAL_ITERS, **extra) -> str:
    """A training config of the toy model for ``tools/train.py``."""
    settings = dict(
        custom_imports=dict(imports=['mmscratch', 'tests.test_reliability.toy_train'],
                            allow_failed_imports=False),
        default_scope='mmdet',
        model=dict(type='ToyTrainModel', ballast=ballast),
        train_dataloader=dict(
            dataset=dict(type='ToyTrainData', length=48),
            sampler=dict(type='DefaultSampler', shuffle=True), batch_size=4,
            num_workers=num_workers, persistent_workers=num_workers > 0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=total_iters, val_interval=10 ** 6),
        param_scheduler=dict(type='MultiStepLR', milestones=[6], by_epoch=False),
        default_hooks=dict(
            checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=interval,
                            max_keep_ckpts=max_keep),
            logger=dict(type='LoggerHook', interval=1)),
        log_processor=dict(window_size=1, by_epoch=False),
        custom_hooks=[dict(type='ExactResumeHook'), *hooks],
        randomness=dict(seed=0, deterministic=True),
        # a worker left behind by a failing test gives up within a minute
        env_cfg=dict(dist_cfg=dict(timeout=60)),
        **extra)
    lines = [f'{key} = {value!r}' for key, value in settings.items()]
    Path(path).write_text('\n'.join(lines) + '\n')
    return str(path)


def env(**extra) -> dict:
    """The environment of a training subprocess: this repository first on the path."""
    path = [str(REPO)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), OMP_NUM_THREADS='1', **extra)
