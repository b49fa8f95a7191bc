"""The paper's schedule rule for epoch-based training on your own dataset.

The rule is written in iterations at batch 16 (1x = 90k, LR x0.1 at the last
60k and 20k). Users of ``EpochBasedTrainLoop`` get the same number of images
seen, expressed in epochs of their dataset:
:func:`~mmscratch.recipe.schedule.schedule_in_epochs` converts it with the
dataset length and the total batch, and :func:`epoch_schedule` turns the
result into MMEngine's ``train_cfg`` + ``LinearLR``/``MultiStepLR``
``param_scheduler`` and logs the conversion, so the run's log says which
iterations the epochs stand for. Warm-up stays in iterations (it is about
optimizer steps, not data).
"""
from __future__ import annotations

import copy
from typing import Optional, Union

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from .schedule import PAPER_BATCH_SIZE, resolve_schedule, schedule_in_epochs


def epoch_schedule(schedule: Union[str, int, float, dict] = '6x',
                   *,
                   dataset_size: int,
                   batch_size: int,
                   base_batch_size: int = PAPER_BATCH_SIZE,
                   val_interval: int = 1) -> dict:
    """The paper's rule as an epoch-based ``train_cfg`` and ``param_scheduler``.

    Args:
        schedule: ``'6x'``, a multiple of 1x, or ``paper_schedule`` keyword
            arguments, in iterations at ``base_batch_size``.
        dataset_size: images in one epoch of the training set.
        batch_size: total images per iteration (GPUs x images per GPU).
        base_batch_size: the batch ``schedule`` is written for.
        val_interval: epochs between validations.

    Returns:
        ``dict(train_cfg=..., param_scheduler=[...], description=str)``; the
        description is also logged.
    """
    base = resolve_schedule(schedule, base_batch_size)
    converted = schedule_in_epochs(base, dataset_size, batch_size)
    max_epochs, milestones = converted['max_epochs'], converted['milestones']
    iters_per_epoch = converted['iters_per_epoch']
    scaled = converted['schedule']
    train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                     val_interval=val_interval)
    param_scheduler = []
    if converted['warmup_iters'] > 0:
        param_scheduler.append(dict(
            type='LinearLR', start_factor=converted['warmup_factor'], by_epoch=False,
            begin=0, end=converted['warmup_iters']))
    param_scheduler.append(dict(
        type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
        milestones=list(milestones), gamma=converted['gamma']))
    description = (
        f"Scratch schedule in epochs: the paper's rule ({base.describe()}) is "
        f'{scaled.describe()}; with {dataset_size} images per epoch and '
        f'{iters_per_epoch} iterations per epoch that is {max_epochs} epochs '
        f'({max_epochs * iters_per_epoch} iterations), LR x{converted["gamma"]:g} '
        f'after epochs {milestones} (iterations '
        f'{[m * iters_per_epoch for m in milestones]}, rule: {list(scaled.steps)}), '
        f'warm-up {converted["warmup_iters"]} iterations')
    print_log(description, logger='current')
    return dict(train_cfg=train_cfg, param_scheduler=param_scheduler,
                description=description)


def train_dataset_size(cfg: Config) -> int:
    """Length of ``cfg.train_dataloader.dataset``, built in MMDetection's scope.

    Builds the dataset (reads its annotation file), not the images.
    """
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from .. import datasets  # noqa: F401  (registers mmscratch's datasets)

    register_all_modules(init_default_scope=True)
    return len(DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset)))


def apply_epoch_schedule(cfg: Config,
                         schedule: Union[str, int, float, dict] = '6x',
                         *,
                         num_gpus: int = 8,
                         dataset_size: Optional[int] = None,
                         base_batch_size: int = PAPER_BATCH_SIZE,
                         val_interval: int = 1) -> Config:
    """A copy of ``cfg`` whose train loop and LR schedule follow the rule in epochs.

    The total batch is ``num_gpus`` x ``cfg.train_dataloader.batch_size``;
    ``dataset_size`` defaults to the length of the built training dataset.
    ``auto_scale_lr`` is enabled at ``base_batch_size`` so the LR follows the
    batch as in the iteration-based configs; checkpoints and logs become
    epoch-based.
    """
    if num_gpus < 1:
        raise ValueError(f'num_gpus must be >= 1, got {num_gpus}')
    out = copy.deepcopy(cfg)
    if dataset_size is None:
        dataset_size = train_dataset_size(out)
    batch_size = num_gpus * int(out.train_dataloader.batch_size)
    result = epoch_schedule(schedule, dataset_size=dataset_size, batch_size=batch_size,
                            base_batch_size=base_batch_size, val_interval=val_interval)
    out.train_cfg = ConfigDict(result['train_cfg'])
    out.param_scheduler = [ConfigDict(s) for s in result['param_scheduler']]
    out.auto_scale_lr = ConfigDict(enable=True, base_batch_size=base_batch_size)
    hooks = out.get('default_hooks') or ConfigDict()
    checkpoint = hooks.setdefault('checkpoint', ConfigDict(type='CheckpointHook'))
    checkpoint.update(by_epoch=True, interval=1)
    out.default_hooks = hooks
    log_processor = out.get('log_processor') or ConfigDict(type='LogProcessor')
    log_processor.update(by_epoch=True)
    out.log_processor = log_processor
    return out
