"""ScratchIterBasedTrainLoop: the paper's schedule at the real batch, in a real Runner.

The runner is MMEngine's own, with a two-parameter model, so building the
loop, the optimizer, ``Runner.scale_lr`` and the schedulers runs exactly as in
a detector's training, and a short ``runner.train()`` checks the LR of every
iteration. The world size is patched where the loop and the runner read it.
"""
import logging
import uuid
from unittest import mock

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmscratch  # noqa: F401  (registers the loop and the scheduler)
from mmscratch.engine.runner import ScratchIterBasedTrainLoop
from mmscratch.recipe.schedule import paper_schedule, scale_schedule
from mmscratch.engine.schedulers import ScratchScheduleLR
from mmscratch.testing.runners import ToyData, ToyModel


class RecordLR(Hook):
    """The LR each iteration trains with."""

    def __init__(self):
        self.lrs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])


def make_runner(tmp_path, *, schedule, batch_size=2, base_batch_size=16, lr=0.02,
                auto_scale_lr=True, param_scheduler=None, custom_hooks=None, **loop_kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        experiment_name=f'loop-{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=ToyData(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=batch_size, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr, momentum=0.9)),
        train_cfg=dict(type='ScratchIterBasedTrainLoop', schedule=schedule,
                       base_batch_size=base_batch_size, **loop_kwargs),
        param_scheduler=param_scheduler or [dict(type='ScratchScheduleLR')],
        auto_scale_lr=dict(enable=auto_scale_lr, base_batch_size=base_batch_size),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=10 ** 9,
                                           by_epoch=False)),
        custom_hooks=custom_hooks,
        log_level='WARNING',
        default_scope='mmdet')


def build_like_runner_train(runner):
    """Runner.train()'s set-up, in its order, without the training loop itself."""
    loop = runner.build_train_loop(runner._train_loop)
    runner._train_loop = loop
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.scale_lr(runner.optim_wrapper, runner.auto_scale_lr)
    runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
    return loop, runner.param_schedulers


def patched_world_size(runner, world_size):
    runner._world_size = world_size  # what Runner.scale_lr reads
    return mock.patch('mmscratch.engine.runner.scratch_loop.get_world_size',
                      return_value=world_size)


def test_6x_on_16_gpus_with_2_images_each(tmp_path):
    """The issue's example: batch 32 -> 270k iterations, steps 240k/260k, LR 0.04."""
    runner = make_runner(tmp_path, schedule=dict(multiple=6), val_interval=30_000)
    with patched_world_size(runner, 16):
        loop, schedulers = build_like_runner_train(runner)
    assert isinstance(loop, ScratchIterBasedTrainLoop)
    assert loop.real_batch_size == 32
    assert loop.max_iters == 270_000
    assert loop.schedule.steps == (240_000, 260_000)
    assert loop.schedule.warmup_iters == 250
    assert loop.val_interval == 15_000
    (scheduler,) = schedulers
    assert isinstance(scheduler, ScratchScheduleLR)
    assert scheduler.schedule == scale_schedule(paper_schedule(6), 32)
    assert scheduler.end == 270_000
    assert scheduler.base_values == pytest.approx([0.04])
    assert runner.optim_wrapper.get_lr()['lr'][0] == pytest.approx(0.04 / 3)


@pytest.mark.parametrize('world_size,batch,total,steps,lr', [
    (8, 2, 540_000, (480_000, 520_000), 0.02),   # the paper's 8 GPUs x 2
    (4, 2, 1_080_000, (960_000, 1_040_000), 0.01),
    (32, 2, 135_000, (120_000, 130_000), 0.08),
    (8, 4, 270_000, (240_000, 260_000), 0.04),
])
def test_6x_at_other_gpu_counts(tmp_path, world_size, batch, total, steps, lr):
    runner = make_runner(tmp_path, schedule=dict(multiple=6), batch_size=batch)
    with patched_world_size(runner, world_size):
        loop, (scheduler,) = build_like_runner_train(runner)
    assert (loop.max_iters, loop.schedule.steps) == (total, steps)
    assert scheduler.schedule.steps == steps
    assert scheduler.base_values == pytest.approx([lr])


def test_without_rescaling_the_counts_stay_as_written(tmp_path):
    runner = make_runner(tmp_path, schedule=dict(multiple=6), scale_with_batch=False)
    with patched_world_size(runner, 16):
        loop, (scheduler,) = build_like_runner_train(runner)
    assert loop.max_iters == 540_000
    assert scheduler.schedule.steps == (480_000, 520_000)


def test_max_iters_must_agree_with_the_schedule(tmp_path):
    runner = make_runner(tmp_path, schedule=dict(multiple=1), max_iters=1000)
    with pytest.raises(ValueError, match='contradicts the schedule'):
        runner.build_train_loop(runner._train_loop)


def test_warns_when_no_scheduler_follows_the_rule(tmp_path):
    runner = make_runner(tmp_path, schedule=dict(multiple=1),
                         param_scheduler=[dict(type='ConstantLR', factor=1.0)])
    with mock.patch('mmscratch.engine.runner.scratch_loop.print_log') as log:
        runner.build_train_loop(runner._train_loop)
    warnings = [c for c in log.call_args_list if c.kwargs.get('level') == logging.WARNING]
    assert any('no ScratchScheduleLR' in c.args[0] for c in warnings)


def test_warns_when_iterations_scale_but_the_lr_does_not(tmp_path):
    runner = make_runner(tmp_path, schedule=dict(multiple=1), auto_scale_lr=False)
    with mock.patch('mmscratch.engine.runner.scratch_loop.print_log') as log:
        runner.build_train_loop(runner._train_loop)  # batch 2 on 1 process
    warnings = [c for c in log.call_args_list if c.kwargs.get('level') == logging.WARNING]
    assert any('auto_scale_lr is off' in c.args[0] for c in warnings)


def test_fills_class_typed_schedulers_of_pure_python_configs(tmp_path):
    """MMEngine's pure-Python configs give ``type`` as the class itself."""
    runner = make_runner(tmp_path, schedule=dict(multiple=2),
                         param_scheduler=[dict(type=ScratchScheduleLR)])
    with patched_world_size(runner, 8):
        _, (scheduler,) = build_like_runner_train(runner)
    assert scheduler.schedule == paper_schedule(2)


@pytest.mark.slow
def test_short_training_follows_the_rule_every_iteration(tmp_path):
    """Written for batch 4, run at batch 2: every count doubles, the LR halves."""
    recorder = RecordLR()
    runner = make_runner(
        tmp_path, batch_size=2, base_batch_size=4, lr=0.02,
        schedule=dict(total_iters=12, drops_before_end=(6, 3), warmup_iters=3),
        val_interval=6, custom_hooks=[recorder])
    runner.train()
    expected = scale_schedule(
        paper_schedule(total_iters=12, drops_before_end=(6, 3), warmup_iters=3,
                       batch_size=4), 2)
    assert (expected.total_iters, expected.steps, expected.warmup_iters) == (24, (12, 18), 6)
    assert runner.iter == 24
    assert recorder.lrs == pytest.approx([0.01 * expected.lr_factor(i) for i in range(24)])
    assert recorder.lrs[0] == pytest.approx(0.01 / 3)
    assert recorder.lrs[11] == pytest.approx(0.01)
    assert recorder.lrs[12] == pytest.approx(0.001) and recorder.lrs[18] == pytest.approx(1e-4)
