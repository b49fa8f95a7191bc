"""``ScratchScheduleLR``: the paper's warm-up + two-step LR rule as one scheduler.

It runs every iteration (``by_epoch=False``) and sets
``lr = base_lr * ScratchSchedule.lr_factor(iteration)``, the closed form of
the rule in :mod:`mmscratch.recipe.schedule`, so a resumed run recomputes the
exact LR from the iteration count instead of replaying chained updates.

Used with :class:`~mmscratch.engine.runner.ScratchIterBasedTrainLoop`, the
loop fills in the schedule scaled to the real batch. Used alone, it takes its
own arguments at face value: ``total_iters`` defaults to the scheduler's
``end``, which MMEngine sets to the train loop's ``max_iters`` only when the
config says ``by_epoch=False`` (MMEngine's default is per epoch and would set
``max_epochs``), so write ``dict(type='ScratchScheduleLR', by_epoch=False)``.
"""
from __future__ import annotations

from typing import Optional, Sequence

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmdet.registry import PARAM_SCHEDULERS

from ...recipe.schedule import (DETECTRON_WARMUP_FACTOR, DETECTRON_WARMUP_ITERS,
                        PAPER_DROPS_BEFORE_END, ScratchSchedule, paper_schedule)


@PARAM_SCHEDULERS.register_module()
class ScratchScheduleParamScheduler(_ParamScheduler):
    """Warm-up, constant, then x``gamma`` at each step; any parameter.

    Args:
        optimizer: wrapped optimizer.
        param_name: name of the hyper-parameter to schedule (``'lr'``).
        schedule: a resolved schedule as a dict of
            :class:`~mmscratch.recipe.schedule.ScratchSchedule` fields; filled
            in by ``ScratchIterBasedTrainLoop``. Takes precedence over the
            arguments below.
        total_iters: schedule length; defaults to ``end``.
        steps: explicit step iterations; defaults to ``total_iters - d`` for
            each ``d`` in ``drops_before_end``.
        drops_before_end: LR drops counted back from the end (paper: 60k, 20k).
        warmup_iters, warmup_factor, gamma: see ``ScratchSchedule``.
    """

    def __init__(self,
                 optimizer,
                 param_name: str,
                 schedule: Optional[dict] = None,
                 total_iters: Optional[int] = None,
                 steps: Optional[Sequence[int]] = None,
                 drops_before_end: Sequence[int] = PAPER_DROPS_BEFORE_END,
                 warmup_iters: int = DETECTRON_WARMUP_ITERS,
                 warmup_factor: float = DETECTRON_WARMUP_FACTOR,
                 gamma: float = 0.1,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False):
        if by_epoch:
            raise ValueError(
                'ScratchScheduleLR is iteration-based; for epoch-based training '
                'convert the rule with mmscratch.recipe.schedule.schedule_in_epochs')
        if schedule is not None:
            self.schedule = ScratchSchedule(
                **{**schedule, 'steps': tuple(schedule['steps'])})
        else:
            if total_iters is None:
                if end == INF:
                    raise ValueError('ScratchScheduleLR needs total_iters or a finite end')
                total_iters = end - begin
            if steps is not None:
                self.schedule = ScratchSchedule(
                    total_iters=int(total_iters), steps=tuple(int(s) for s in steps),
                    warmup_iters=warmup_iters, warmup_factor=warmup_factor, gamma=gamma)
            else:
                self.schedule = paper_schedule(
                    total_iters=int(total_iters), drops_before_end=drops_before_end,
                    warmup_iters=warmup_iters, warmup_factor=warmup_factor, gamma=gamma)
        super().__init__(optimizer, param_name, begin=begin, end=end,
                         last_step=last_step, by_epoch=by_epoch, verbose=verbose)

    def _get_value(self):
        factor = self.schedule.lr_factor(self.last_step)
        return [base * factor for base in self.base_values]

    def state_dict(self) -> dict:
        # The schedule is derived from the config (and the real batch size) at
        # every start, so checkpoints hold plain numbers only and a resume with
        # a different GPU count re-derives it instead of trusting stale values.
        state = super().state_dict()
        state.pop('schedule', None)
        return state


@PARAM_SCHEDULERS.register_module()
class ScratchScheduleLR(LRSchedulerMixin, ScratchScheduleParamScheduler):
    """The paper's LR schedule; see :class:`ScratchScheduleParamScheduler`."""
