"""``ScratchIterBasedTrainLoop``: the paper's schedule, scaled to the real batch.

MMEngine's ``auto_scale_lr`` scales the learning rate with the total batch but
leaves iteration counts alone, so ``dist_train.sh ... 4`` would silently train
half as many images as the paper. This loop owns the schedule: it computes it
with :func:`~mmscratch.recipe.schedule.paper_schedule` at ``base_batch_size``,
re-expresses it for ``world_size x images per GPU`` with the linear scaling
rule (iterations, LR steps, warm-up and validation interval), and hands the
result to every ``ScratchScheduleLR`` in ``param_scheduler`` before MMEngine
builds them. It logs the resolved schedule once.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Dict, List, Optional, Tuple, Union

from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from torch.utils.data import DataLoader
from mmdet.registry import LOOPS

from ...utils.config_facts import type_name
from ...recipe.schedule import PAPER_BATCH_SIZE, ScratchSchedule, paper_schedule, scale_schedule

SCHEDULER_TYPES = ('ScratchScheduleLR', 'ScratchScheduleParamScheduler')


def images_per_device(dataloader: DataLoader) -> int:
    """Images per iteration on one process, with or without a batch sampler."""
    if dataloader.batch_size is not None:
        return int(dataloader.batch_size)
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    if batch_sampler is not None and getattr(batch_sampler, 'batch_size', None):
        return int(batch_sampler.batch_size)
    raise ValueError('cannot tell the per-GPU batch size of the train dataloader')


@dataclasses.dataclass(frozen=True)
class ResolvedLoop:
    """What ``ScratchIterBasedTrainLoop`` trains for one total batch."""

    base: ScratchSchedule  # the schedule as written, at base_batch_size
    schedule: ScratchSchedule  # at the real batch
    val_interval: int
    val_begin: int

    @property
    def ratio(self) -> float:
        """Iterations as written per iteration trained (real batch / base batch)."""
        return self.base.total_iters / self.schedule.total_iters


def resolve_loop(schedule: dict, base_batch_size: int, real_batch_size: int,
                 scale_with_batch: bool = True, val_begin: int = 1,
                 val_interval: int = 1000) -> ResolvedLoop:
    """The paper's schedule for ``real_batch_size`` images per iteration.

    The one place the loop's numbers come from; ``tools/train.py --dry-run``
    prints the same.
    """
    base = paper_schedule(**dict(schedule), batch_size=base_batch_size)
    resolved = scale_schedule(base, real_batch_size) if scale_with_batch else base
    ratio = base.total_iters / resolved.total_iters
    return ResolvedLoop(
        base=base, schedule=resolved,
        val_interval=max(1, int(round(val_interval / ratio))),
        val_begin=max(1, int(round(val_begin / ratio))) if val_begin > 1 else val_begin)


def _iter_scheduler_cfgs(param_schedulers):
    if isinstance(param_schedulers, dict):
        if 'type' in param_schedulers:
            yield param_schedulers
        else:  # one list per optimizer
            for value in param_schedulers.values():
                yield from _iter_scheduler_cfgs(value)
    elif isinstance(param_schedulers, (list, tuple)):
        for item in param_schedulers:
            yield from _iter_scheduler_cfgs(item)


@LOOPS.register_module()
class ScratchIterBasedTrainLoop(IterBasedTrainLoop):
    """Iteration-based training on the paper's schedule.

    Args:
        runner: the runner.
        dataloader: train dataloader or its config.
        schedule: keyword arguments of
            :func:`~mmscratch.recipe.schedule.paper_schedule`, e.g.
            ``dict(multiple=6)`` or ``dict(total_iters=1000,
            drops_before_end=(200, 60), warmup_iters=50)``; counts are at
            ``base_batch_size``.
        base_batch_size: total batch the schedule is written for (16 = 8 GPUs
            x 2 images in the paper).
        scale_with_batch: re-express iteration counts for the real batch.
        val_begin, val_interval: as in ``IterBasedTrainLoop``, at
            ``base_batch_size`` (scaled like the schedule).
        dynamic_intervals: as in ``IterBasedTrainLoop`` (not scaled).
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 schedule: dict,
                 base_batch_size: int = PAPER_BATCH_SIZE,
                 scale_with_batch: bool = True,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None,
                 max_iters: Optional[int] = None) -> None:
        base = paper_schedule(**dict(schedule), batch_size=base_batch_size)
        if max_iters is not None and max_iters != base.total_iters:
            raise ValueError(
                f'train_cfg.max_iters={max_iters} contradicts the schedule '
                f'({base.total_iters} iterations); set schedule.total_iters or '
                f'schedule.multiple instead of max_iters')
        super().__init__(runner, dataloader, max_iters=base.total_iters,
                         val_begin=val_begin, val_interval=val_interval,
                         dynamic_intervals=dynamic_intervals)
        self.real_batch_size = images_per_device(self.dataloader) * get_world_size()
        loop = resolve_loop(schedule, base_batch_size, self.real_batch_size, scale_with_batch,
                            val_begin, val_interval)
        resolved, ratio = loop.schedule, loop.ratio
        self.schedule = resolved
        self._max_iters = resolved.total_iters
        self.val_interval = loop.val_interval
        self.val_begin = loop.val_begin
        # calc_dynamic_intervals ran in super() with the unscaled interval.
        if not dynamic_intervals:
            self.dynamic_milestones, self.dynamic_intervals = [0], [self.val_interval]
        self._inject_schedule(runner)
        print_log(
            f'Scratch schedule: {resolved.describe()} (written for batch '
            f'{base_batch_size}: {base.describe()}); validation every '
            f'{self.val_interval} iterations', logger='current')
        self._warn_if_lr_not_scaled(runner, ratio)

    def _inject_schedule(self, runner) -> None:
        filled = 0
        for cfg in _iter_scheduler_cfgs(runner.param_schedulers):
            if type_name(cfg.get('type')) in SCHEDULER_TYPES:
                cfg['schedule'] = dataclasses.asdict(self.schedule)
                cfg.setdefault('end', self.schedule.total_iters)
                filled += 1
        if filled == 0:
            print_log(
                'ScratchIterBasedTrainLoop: no ScratchScheduleLR in param_scheduler; '
                'the LR follows the configured schedulers, not the paper rule',
                logger='current', level=logging.WARNING)

    def _warn_if_lr_not_scaled(self, runner, ratio: float) -> None:
        auto_scale_lr = getattr(runner, 'auto_scale_lr', None) or {}
        if ratio != 1 and not auto_scale_lr.get('enable', False):
            print_log(
                f'Iterations were rescaled by {1 / ratio:.3g}x for batch '
                f'{self.real_batch_size}, but auto_scale_lr is off, so the LR '
                'was not: the linear scaling rule is only half applied',
                logger='current', level=logging.WARNING)
