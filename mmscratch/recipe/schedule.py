"""The paper's schedule rule, computed once for any length and batch size.

"Rethinking ImageNet Pre-training" trains with a linear warm-up, then keeps
the learning rate constant and multiplies it by 0.1 at the last 60k and at the
last 20k iterations, whatever the schedule length (1x = 90k iterations at a
batch of 16 images; 6x = 540k with steps at 480k and 520k).

Every config in ``configs/`` derives its numbers from :func:`paper_schedule`
and every change of batch size goes through :func:`scale_schedule` (the linear
scaling rule: twice the batch, half the iterations, twice the LR), so no
iteration count is ever copied by hand. The one schedule grammar of every
function and tool (``'6x'``, ``'220k'``, ``'12e'``, ...) is
:func:`parse_schedule`; schedules shorter than 1x keep the paper's shape
(:func:`paper_drops`), and a schedule is shrunk or stretched with its drops
and warm-up at the same fractions by :func:`rescale_schedule_length`.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Sequence, Tuple, Union

#: Iterations of the paper's "1x" schedule at its batch of 16 images.
ITERS_PER_1X = 90_000
#: The paper's batch: 8 GPUs x 2 images.
PAPER_BATCH_SIZE = 16
#: LR drops, counted back from the end of training, at the paper's batch.
PAPER_DROPS_BEFORE_END = (60_000, 20_000)
#: Detectron's warm-up (the paper does not state one): 500 iterations from 1/3.
DETECTRON_WARMUP_ITERS = 500
DETECTRON_WARMUP_FACTOR = 1.0 / 3.0


@dataclasses.dataclass(frozen=True)
class ScratchSchedule:
    """A fully resolved schedule: iteration counts at one batch size.

    Attributes:
        total_iters: iterations of training.
        steps: iterations at which the LR is multiplied by ``gamma``.
        warmup_iters: length of the linear warm-up (0 disables it).
        warmup_factor: LR multiplier at iteration 0 of the warm-up.
        gamma: multiplicative LR factor applied at each step.
        batch_size: the total batch (all GPUs) these numbers are meant for.
    """

    total_iters: int
    steps: Tuple[int, ...]
    warmup_iters: int = DETECTRON_WARMUP_ITERS
    warmup_factor: float = DETECTRON_WARMUP_FACTOR
    gamma: float = 0.1
    batch_size: int = PAPER_BATCH_SIZE

    def __post_init__(self):
        if self.total_iters <= 0:
            raise ValueError(f'total_iters must be > 0, got {self.total_iters}')
        if list(self.steps) != sorted(self.steps):
            raise ValueError(f'steps must be increasing, got {self.steps}')
        if any(s <= 0 or s >= self.total_iters for s in self.steps):
            raise ValueError(
                f'every step must lie inside (0, total_iters={self.total_iters}), '
                f'got {self.steps}')
        if not 0 <= self.warmup_iters < self.total_iters:
            raise ValueError(
                f'warmup_iters must be in [0, total_iters), got {self.warmup_iters}')
        if self.steps and self.warmup_iters > self.steps[0]:
            raise ValueError(
                f'warm-up ({self.warmup_iters} iters) must end before the first '
                f'LR step ({self.steps[0]})')
        if not 0 < self.warmup_factor <= 1:
            raise ValueError(f'warmup_factor must be in (0, 1], got {self.warmup_factor}')

    def lr_factor(self, iteration: int) -> float:
        """LR multiplier applied to the base LR at a 0-based iteration."""
        factor = self.gamma ** sum(1 for s in self.steps if iteration >= s)
        if iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            factor *= self.warmup_factor * (1 - alpha) + alpha
        return factor

    def describe(self) -> str:
        steps = ', '.join(str(s) for s in self.steps)
        return (f'{self.total_iters} iterations at batch {self.batch_size}, '
                f'linear warm-up {self.warmup_iters} iterations from '
                f'{self.warmup_factor:.4g}, LR x{self.gamma:g} at [{steps}]')


def paper_schedule(multiple: float = 1.0,
                   *,
                   total_iters: int | None = None,
                   drops_before_end: Sequence[int] = PAPER_DROPS_BEFORE_END,
                   warmup_iters: int = DETECTRON_WARMUP_ITERS,
                   warmup_factor: float = DETECTRON_WARMUP_FACTOR,
                   gamma: float = 0.1,
                   batch_size: int = PAPER_BATCH_SIZE) -> ScratchSchedule:
    """The paper's rule: steps at ``total - 60k`` and ``total - 20k``.

    Args:
        multiple: schedule length in units of 1x (90k iterations at batch 16),
            e.g. ``6`` for the paper's best R50 result. Ignored when
            ``total_iters`` is given.
        total_iters: explicit length, for schedules that are not a multiple
            of 90k (the CPU demo, the small-data regimes).
        drops_before_end: where the LR drops, counted back from the end.
        warmup_iters, warmup_factor, gamma: as in :class:`ScratchSchedule`.
        batch_size: the batch these iteration counts are meant for.
    """
    if total_iters is None:
        if multiple <= 0:
            raise ValueError(f'multiple must be > 0, got {multiple}')
        total_iters = int(round(ITERS_PER_1X * multiple))
    steps = tuple(sorted(total_iters - int(d) for d in drops_before_end))
    return ScratchSchedule(
        total_iters=int(total_iters),
        steps=steps,
        warmup_iters=int(warmup_iters),
        warmup_factor=float(warmup_factor),
        gamma=float(gamma),
        batch_size=int(batch_size))


def scale_schedule(schedule: ScratchSchedule, batch_size: int) -> ScratchSchedule:
    """Re-express a schedule for another total batch by the linear scaling rule.

    The number of images seen is kept: every iteration count (total, steps,
    warm-up) is multiplied by ``schedule.batch_size / batch_size``. The LR
    itself is scaled by MMEngine's ``auto_scale_lr``, not here.
    """
    if batch_size <= 0:
        raise ValueError(f'batch_size must be > 0, got {batch_size}')
    if batch_size == schedule.batch_size:
        return schedule
    ratio = schedule.batch_size / batch_size

    def rescale(n: int) -> int:
        return max(1, int(round(n * ratio))) if n > 0 else 0

    return dataclasses.replace(
        schedule,
        total_iters=rescale(schedule.total_iters),
        steps=tuple(rescale(s) for s in schedule.steps),
        warmup_iters=rescale(schedule.warmup_iters),
        batch_size=int(batch_size))


def schedule_in_epochs(schedule: ScratchSchedule, dataset_size: int,
                       batch_size: int) -> dict:
    """The same rule for epoch-based training on a user's dataset.

    Converts the schedule to epochs of ``dataset_size`` images by the images
    it shows (iterations x the batch it is written for), which the linear
    scaling rule keeps for any batch: counting iterations of ``batch_size``
    instead would shorten training whenever the last batch of an epoch is
    partial. Epochs are rounded up so training never ends early; the LR steps
    are rounded to the nearest epoch boundary. Returns ``max_epochs``,
    ``milestones`` (in epochs), ``warmup_iters`` (warm-up stays
    iteration-based, scaled to ``batch_size``), the scaled iteration schedule
    and ``iters_per_epoch`` so the caller can log it.
    """
    if dataset_size <= 0:
        raise ValueError(f'dataset_size must be > 0, got {dataset_size}')
    scaled = scale_schedule(schedule, batch_size)
    iters_per_epoch = math.ceil(dataset_size / batch_size)

    def epochs(iters: int) -> float:
        return iters * schedule.batch_size / dataset_size

    max_epochs = max(1, math.ceil(epochs(schedule.total_iters)))
    milestones = [min(max_epochs - 1, max(1, round(epochs(s)))) for s in schedule.steps]
    return dict(
        max_epochs=max_epochs,
        milestones=milestones,
        warmup_iters=scaled.warmup_iters,
        warmup_factor=scaled.warmup_factor,
        gamma=scaled.gamma,
        iters_per_epoch=iters_per_epoch,
        schedule=scaled)


def paper_drops(total_iters: int) -> Tuple[int, ...]:
    """The paper's drops (last 60k, last 20k) for a schedule of ``total_iters``.

    Schedules of at least 1x (90k iterations) drop at the last 60k and 20k;
    shorter ones keep the 1x shape, the drops shrunk with the length
    ((60k, 20k) x total / 90k), as the small-data regimes do.
    """
    if total_iters >= ITERS_PER_1X:
        return tuple(PAPER_DROPS_BEFORE_END)
    return tuple(int(round(d * total_iters / ITERS_PER_1X)) for d in PAPER_DROPS_BEFORE_END)


_SCHEDULE_TEXT = re.compile(r'\s*(\d+(?:\.\d+)?)\s*(x|k|e)?\s*', re.IGNORECASE)


def parse_schedule(schedule: Union[str, int, float, dict]) -> dict:
    """The schedule grammar of every mmscratch function and tool.

    * ``'6x'`` (or a Python number, ``6``, ``2.5``): multiples of the paper's
      1x (90k iterations at batch 16) -> ``dict(multiple=6)``;
    * ``'220k'`` or a string of digits, ``'60000'``: iterations ->
      ``dict(total_iters=220000)``; under 1x with the drops of
      :func:`paper_drops`;
    * ``'12e'``: epochs -> ``dict(epochs=12.0)`` (for the analyses; the
      iteration-based loop refuses it);
    * a dict: :func:`paper_schedule` keyword arguments, taken as they are.

    Returns the dict; :func:`resolve_schedule` turns one into iterations
    (and fails there for a schedule the rule cannot express).
    """
    if isinstance(schedule, dict):
        return dict(schedule)
    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        return dict(multiple=int(schedule) if float(schedule).is_integer() else schedule)
    match = _SCHEDULE_TEXT.fullmatch(str(schedule))
    if match is None:
        raise ValueError(f"schedule {schedule!r}: use a multiple of the paper's 90k-iteration "
                         "1x ('6x'), iterations ('220k', '60000') or epochs ('12e')")
    value, unit = float(match.group(1)), (match.group(2) or '').lower()
    if unit == 'x':
        return dict(multiple=int(value) if value.is_integer() else value)
    if unit == 'e':
        return dict(epochs=value)
    iters = int(round(value * 1000)) if unit == 'k' else int(value)
    if unit == '' and not value.is_integer():
        raise ValueError(f'schedule {schedule!r}: iterations must be a whole number')
    spec = dict(total_iters=iters)
    if iters < ITERS_PER_1X:
        spec['drops_before_end'] = paper_drops(iters)
    return spec


def resolve_schedule(schedule: Union[str, int, float, dict],
                     batch_size: int = PAPER_BATCH_SIZE) -> ScratchSchedule:
    """:func:`parse_schedule`, then :func:`paper_schedule`: the iterations of a
    schedule given in any of its forms; epochs are refused (they need a
    dataset: :func:`schedule_in_epochs`)."""
    spec = parse_schedule(schedule)
    if 'epochs' in spec:
        raise ValueError(f'schedule {schedule!r} is in epochs; the paper\'s rule counts '
                         "iterations (e.g. '6x' or '220k')")
    return paper_schedule(**spec, batch_size=batch_size)


def iters_label(iters: int) -> str:
    """'220k it' for round thousands, else '30 it'."""
    return f'{iters // 1000}k it' if iters >= 1000 and iters % 1000 == 0 else f'{iters} it'


def schedule_label(spec: dict) -> str:
    """How tables name a parsed schedule: '6x', '220k it', '12e'."""
    if 'epochs' in spec:
        return f"{spec['epochs']:g}e"
    if 'multiple' in spec and 'total_iters' not in spec:
        return f"{spec['multiple']:g}x"
    return iters_label(int(spec['total_iters']))


def rescale_schedule_length(schedule: dict, total_iters: int) -> dict:
    """``schedule`` (a loop's ``train_cfg.schedule``) stretched or shrunk to
    ``total_iters``, its LR drops and warm-up at the same fractions.

    The drops stay distinct and inside the schedule on tiny lengths; the
    warm-up, if any, keeps at least one iteration.
    """
    if total_iters < 1:
        raise ValueError(f'total_iters must be >= 1, got {total_iters}')
    base = paper_schedule(**dict(schedule))
    factor = total_iters / base.total_iters
    drops = [max(1, int(round((base.total_iters - s) * factor))) for s in base.steps]
    drops.sort(reverse=True)
    for i in range(len(drops) - 2, -1, -1):  # keep them distinct on tiny schedules
        drops[i] = max(drops[i], drops[i + 1] + 1)
    out = {k: v for k, v in dict(schedule).items() if k not in ('multiple', 'total_iters')}
    out.update(total_iters=int(total_iters), drops_before_end=drops)
    if base.warmup_iters:
        out['warmup_iters'] = max(1, int(round(base.warmup_iters * factor)))
    return out
