"""ScratchScheduleLR: the paper's rule as an MMEngine parameter scheduler."""
import dataclasses

import pytest
import torch
from mmdet.registry import PARAM_SCHEDULERS

import mmscratch  # noqa: F401  (registers the scheduler)
from mmscratch.recipe.schedule import paper_schedule, scale_schedule
from mmscratch.engine.schedulers import ScratchScheduleLR, ScratchScheduleParamScheduler

BASE_LR = 0.02


def make_optimizer(lr=BASE_LR):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9)


def lrs_over(scheduler, optimizer, iters):
    """The LR used at each iteration: read before the step, as MMEngine trains."""
    seen = []
    for _ in range(iters):
        seen.append(optimizer.param_groups[0]['lr'])
        scheduler.step()
    return seen


def test_lr_follows_the_closed_form_every_iteration():
    optimizer = make_optimizer()
    scheduler = ScratchScheduleLR(optimizer, total_iters=120, drops_before_end=(40, 15),
                                  warmup_iters=10, warmup_factor=1 / 3)
    expected = paper_schedule(total_iters=120, drops_before_end=(40, 15), warmup_iters=10)
    assert scheduler.schedule == expected
    seen = lrs_over(scheduler, optimizer, 120)
    assert seen == pytest.approx([BASE_LR * expected.lr_factor(i) for i in range(120)])
    # the landmarks, spelled out
    assert seen[0] == pytest.approx(BASE_LR / 3)
    assert seen[10] == pytest.approx(BASE_LR)
    assert seen[79] == pytest.approx(BASE_LR) and seen[80] == pytest.approx(BASE_LR * 0.1)
    assert seen[104] == pytest.approx(BASE_LR * 0.1)
    assert seen[105] == pytest.approx(BASE_LR * 0.01)


def test_paper_6x_landmarks_without_iterating():
    """540k iterations are too many to step through: check the closed form directly."""
    optimizer = make_optimizer()
    scheduler = ScratchScheduleLR(optimizer, total_iters=540_000)
    assert scheduler.schedule.steps == (480_000, 520_000)
    for it, factor in [(0, 1 / 3), (500, 1), (479_999, 1), (480_000, 0.1),
                       (520_000, 0.01), (539_999, 0.01)]:
        scheduler.last_step = it
        assert scheduler._get_value()[0] == pytest.approx(BASE_LR * factor)


def test_a_resolved_schedule_takes_precedence():
    """What ScratchIterBasedTrainLoop injects: the schedule scaled to the real batch."""
    resolved = scale_schedule(paper_schedule(6), 32)
    optimizer = make_optimizer(0.04)
    scheduler = ScratchScheduleLR(optimizer, schedule=dataclasses.asdict(resolved),
                                  total_iters=7, drops_before_end=(3, 1))
    assert scheduler.schedule == resolved
    assert scheduler.schedule.steps == (240_000, 260_000)
    assert optimizer.param_groups[0]['lr'] == pytest.approx(0.04 / 3)


def test_explicit_steps():
    optimizer = make_optimizer()
    scheduler = ScratchScheduleLR(optimizer, total_iters=50, steps=[20, 40], warmup_iters=0)
    seen = lrs_over(scheduler, optimizer, 50)
    assert seen[19] == pytest.approx(BASE_LR) and seen[20] == pytest.approx(BASE_LR * 0.1)
    assert seen[40] == pytest.approx(BASE_LR * 0.01)


def test_length_defaults_to_the_scheduler_end():
    scheduler = ScratchScheduleLR(make_optimizer(), end=1000, drops_before_end=(200, 50),
                                  warmup_iters=10)
    assert scheduler.schedule.total_iters == 1000
    assert scheduler.schedule.steps == (800, 950)


def test_needs_a_length():
    with pytest.raises(ValueError, match='total_iters'):
        ScratchScheduleLR(make_optimizer())


def test_refuses_epoch_based_use():
    with pytest.raises(ValueError, match='schedule_in_epochs'):
        ScratchScheduleLR(make_optimizer(), total_iters=1000, by_epoch=True)


def test_resume_recomputes_the_lr_from_the_iteration():
    kwargs = dict(total_iters=100, drops_before_end=(40, 10), warmup_iters=5)
    optimizer = make_optimizer()
    scheduler = ScratchScheduleLR(optimizer, **kwargs)
    lrs_over(scheduler, optimizer, 70)
    state = scheduler.state_dict()
    # checkpoints hold plain numbers, not the schedule (re-derived at start)
    assert 'schedule' not in state
    # a resumed run builds a fresh scheduler, then loads the checkpoint's state
    resumed_optimizer = make_optimizer()
    resumed = ScratchScheduleLR(resumed_optimizer, **kwargs)
    resumed.load_state_dict(state)
    assert resumed.last_step == 70
    for _ in range(30):
        scheduler.step()
        resumed.step()
        assert resumed_optimizer.param_groups[0]['lr'] == pytest.approx(
            optimizer.param_groups[0]['lr'])
    assert resumed_optimizer.param_groups[0]['lr'] == pytest.approx(BASE_LR * 0.01)


def test_schedules_any_parameter():
    optimizer = make_optimizer()
    scheduler = ScratchScheduleParamScheduler(
        optimizer, param_name='momentum', total_iters=20, drops_before_end=(10, 5),
        warmup_iters=0, gamma=0.5)
    for _ in range(10):
        scheduler.step()
    assert optimizer.param_groups[0]['momentum'] == pytest.approx(0.45)


def test_built_from_the_registry():
    optimizer = make_optimizer()
    scheduler = PARAM_SCHEDULERS.build(
        dict(type='ScratchScheduleLR', total_iters=90_000), default_args=dict(optimizer=optimizer))
    assert isinstance(scheduler, ScratchScheduleLR)
    assert scheduler.schedule == paper_schedule(1)
