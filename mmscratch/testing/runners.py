"""Runners for the tests: tiny real MMEngine runs and a mocked runner.

* :func:`make_toy_runner`: a real runner whose checkpoints hold what real
  ones hold (the message hub logs scalars into ``HistoryBuffer``s with numpy
  arrays, MultiStepLR's state holds a ``Counter``), in a fraction of a second.
* :func:`toy_runner`: the reliability tests' variant, drawing random numbers
  where a detector does (python ``random``, numpy and torch in the data
  pipeline and in the loss), so any RNG state that a resume fails to restore
  changes the trained weights; crash and NaN injection.
* :func:`make_mock_runner`: a ``MagicMock`` runner for hook unit tests (as in
  MMDetection's hook tests).

MMEngine's ``mmengine/testing/runner_test_case.py`` is the model.
"""
from __future__ import annotations

import logging
import random
import uuid
from types import SimpleNamespace
from typing import List, Optional
from unittest.mock import MagicMock

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - labels) ** 2).mean())
        return out


class ToyData(Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i) / 16, 1.0]),
                    labels=torch.tensor(float(i % 3)))


def make_toy_runner(work_dir, max_iters=4, resume=False, load_from=None, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(), sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        param_scheduler=dict(type='MultiStepLR', milestones=[2], by_epoch=False),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from,
        default_scope='mmengine',
        **kwargs)


class RandomToyData(ToyData):
    """Augments with numpy and python ``random`` (as RandomFlip & co. do)."""

    def __init__(self, length: int = 48):
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        item = super().__getitem__(i % 16)
        jitter = float(np.random.rand()) * 0.1 + random.random() * 0.01
        item['inputs'] = item['inputs'] + jitter
        return item


class RandomToyModel(ToyModel):
    """A loss that samples (as RPN/RoI samplers do), a ballast buffer for size.

    Args:
        ballast: float32 elements of an extra buffer, to make checkpoints big
            enough that killing a process mid-save is likely.
    """

    def __init__(self, ballast: int = 0):
        super().__init__()
        self.register_buffer('ballast', torch.zeros(ballast))
        self.loss_factor: dict = {}  # iteration (1-based) -> factor, e.g. NaN
        self.iteration = 0

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            self.iteration += 1
            weights = 1 + 0.5 * torch.rand_like(out)
            loss = (((out - labels) ** 2) * weights).mean()
            if self.iteration in self.loss_factor:
                loss = loss * self.loss_factor[self.iteration]
            return dict(loss=loss)
        if mode == 'predict':
            torch.rand(3)  # evaluation draws random numbers too
            return [dict(pred=o, label=l) for o, l in zip(out, labels)]
        return out


class ToyMetric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(float((s['pred'] - s['label']) ** 2) for s in data_samples)

    def compute_metrics(self, results):
        return dict(mse=float(np.mean(results)))


class CrashAt(Exception):
    """Stands in for a crash inside training."""


class CrashHook(Hook):
    """Raise :class:`CrashAt` before iteration ``at`` (1-based) starts."""

    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            raise CrashAt(f'crash before iteration {self.at}')


def toy_runner(work_dir, max_iters: int = 10, *, checkpoint: Optional[dict] = None,
               custom_hooks: Optional[List] = None, resume: bool = False,
               load_from: Optional[str] = None, num_workers: int = 0,
               val_interval: Optional[int] = None, ballast: int = 0,
               model: Optional[nn.Module] = None, scheduler: Optional[dict] = None,
               lr: float = 0.01, dataset_len: int = 48, plain_data: bool = True) -> Runner:
    """A toy run; ``plain_data`` adds ``PlainDataCheckpointHook`` as every
    mmscratch config does (off: MMEngine's own checkpoint format, numpy inside)."""
    checkpoint = dict(dict(type='SafeCheckpointHook', interval=3, by_epoch=False),
                      **(checkpoint or {}))
    val = {}
    if val_interval is not None:
        val = dict(
            val_dataloader=dict(
                dataset=ToyData(), sampler=dict(type='DefaultSampler', shuffle=False),
                batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
            val_evaluator=Evaluator([ToyMetric()]),
            val_cfg=dict(type='ValLoop'))
    if model is None:
        torch.manual_seed(0)  # the same initial weights in every run
        model = RandomToyModel(ballast)
    return Runner(
        model=model,
        work_dir=str(work_dir),
        experiment_name=uuid.uuid4().hex,  # runners in one process must not share state
        train_dataloader=dict(
            dataset=RandomToyData(dataset_len), sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4, num_workers=num_workers, persistent_workers=num_workers > 0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters,
                       val_interval=val_interval or max_iters + 1),
        param_scheduler=scheduler or dict(type='MultiStepLR', milestones=[4], by_epoch=False),
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(custom_hooks or []) + (
            [dict(type='PlainDataCheckpointHook')] if plain_data else []),
        randomness=dict(seed=0, deterministic=True),
        resume=resume,
        load_from=load_from,
        default_scope='mmdet',
        **val)


def state_dicts_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def shutdown_workers(runner: Runner) -> None:
    """Stop a finished (or crashed) run's dataloader workers now.

    Left to garbage collection, each persistent worker's shutdown waits out
    DataLoader's 5 s status interval in whichever later test triggers it.
    """
    loop = getattr(runner, '_train_loop', None)
    iterator = getattr(getattr(loop, 'dataloader_iterator', None), '_iterator', None)
    if hasattr(iterator, '_shutdown_workers'):
        iterator._shutdown_workers()


class _Loader(SimpleNamespace):
    pass


def make_mock_runner(tmp_path, *, model=None, max_iters=100, batch_size=2, steps=(),
                     val_interval=100, cfg=None, it=0):
    runner = MagicMock()
    runner.work_dir = str(tmp_path)
    runner.iter = it
    runner.logger = logging.getLogger('mock_runner')
    runner.message_hub = MessageHub.get_instance(f'mock-{id(runner)}')
    config_file = tmp_path / 'my_config.py'
    config_file.write_text('')
    runner.cfg = Config(cfg or {}, filename=str(config_file))
    loop = MagicMock()
    loop.max_iters = max_iters
    loop.val_begin = 1
    loop.val_interval = val_interval
    loop.dataloader = _Loader(batch_size=batch_size)
    loop.schedule = SimpleNamespace(steps=tuple(steps), describe=lambda: 'schedule')
    runner.train_loop = loop
    runner._train_loop = loop
    runner.train_dataloader = loop.dataloader
    if model is not None:
        runner.model = model
    return runner
