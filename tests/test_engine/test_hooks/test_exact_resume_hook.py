"""ExactResumeHook: crash + resume gives the weights of the run that never stopped.

Toy runs whose data pipeline and loss draw python/numpy/torch random numbers
(as augmentation and RPN/RoI sampling do). Each comparison is also run
without the hook, where it must fail: that is what the hook adds.
"""
import random

import numpy as np
import pytest
import torch
from mmengine.runner import find_latest_checkpoint

import mmscratch  # noqa: F401  (registers the hooks)
from mmscratch.engine.hooks.exact_resume_hook import (capture_rng_state,
                                                       restore_rng_state)
from mmscratch.testing.runners import (CrashAt, CrashHook, shutdown_workers,
                                        state_dicts_equal, toy_runner)

MAX_ITERS = 10


@pytest.fixture(autouse=True)
def _no_global_determinism_leak():
    yield
    torch.use_deterministic_algorithms(False)  # set by randomness.deterministic


def _straight(work_dir, exact, **kwargs):
    hooks = [dict(type='ExactResumeHook')] if exact else []
    runner = toy_runner(work_dir, MAX_ITERS, custom_hooks=hooks, **kwargs)
    runner.train()
    shutdown_workers(runner)
    return runner


def _crash_and_resume(work_dir, exact, crash_at, **kwargs):
    hooks = [dict(type='ExactResumeHook')] if exact else []
    crashing = toy_runner(work_dir, MAX_ITERS, custom_hooks=hooks + [CrashHook(crash_at)],
                          **kwargs)
    with pytest.raises(CrashAt):
        crashing.train()
    shutdown_workers(crashing)
    latest = find_latest_checkpoint(str(work_dir))
    runner = toy_runner(work_dir, MAX_ITERS, custom_hooks=hooks, resume=True,
                        load_from=latest, **kwargs)
    runner.train()
    shutdown_workers(runner)
    return runner, torch.load(latest)['meta']['iter']


def test_rng_state_round_trip_through_safe_loader(tmp_path):
    state = capture_rng_state()
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    torch.save(state, tmp_path / 's.pth')
    restore_rng_state(torch.load(tmp_path / 's.pth'))  # weights_only=True by default
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


@pytest.mark.parametrize('num_workers', [0, 2])
@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path, num_workers):
    # crash before iteration 8: checkpoint at 6 (interval 3); iteration 7
    # (and its data) is redone, and the sampler starts a new epoch (6 batches
    # of 24 items) after the resume: new iterator, set_epoch, worker restart
    kwargs = dict(num_workers=num_workers, dataset_len=24)
    straight = _straight(tmp_path / 'a', True, **kwargs)
    resumed, from_iter = _crash_and_resume(tmp_path / 'b', True, crash_at=8, **kwargs)
    assert from_iter == 6 and resumed.iter == straight.iter == MAX_ITERS
    assert state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())
    opt_a = straight.optim_wrapper.state_dict()['state']
    opt_b = resumed.optim_wrapper.state_dict()['state']
    assert all(torch.equal(opt_a[k]['momentum_buffer'], opt_b[k]['momentum_buffer'])
               for k in opt_a)
    assert straight.optim_wrapper.get_lr() == resumed.optim_wrapper.get_lr()


def test_without_the_hook_resume_diverges(tmp_path):
    # The control: MMEngine alone restores weights, optimizer and sampler, but
    # not the RNGs, so the same crash gives other weights.
    straight = _straight(tmp_path / 'a', False)
    resumed, _ = _crash_and_resume(tmp_path / 'b', False, crash_at=8)
    assert not state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())


def test_validation_does_not_change_training(tmp_path):
    # Validation draws random numbers; with the hook it leaves training's
    # random streams as they were, so a resume need not replay evaluations
    # and the curve hook may evaluate wherever it likes.
    plain = _straight(tmp_path / 'a', True)
    with_val = _straight(tmp_path / 'b', True, val_interval=2)
    assert state_dicts_equal(plain.model.state_dict(), with_val.model.state_dict())
    without_hook = _straight(tmp_path / 'c', False, val_interval=2)
    assert not state_dicts_equal(plain.model.state_dict(), without_hook.model.state_dict())


def test_resume_after_an_evaluation_is_exact(tmp_path):
    # evaluation at 4 happens after checkpoint 3 and before the crash at 6
    kwargs = dict(val_interval=4, checkpoint=dict(interval=3))
    straight = _straight(tmp_path / 'a', True, **kwargs)
    resumed, from_iter = _crash_and_resume(tmp_path / 'b', True, crash_at=6, **kwargs)
    assert from_iter == 3
    assert state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())


def test_checkpoint_holds_rng_states_and_warns_without_them(tmp_path):
    _straight(tmp_path, True)
    ckpt = torch.load(tmp_path / f'iter_{MAX_ITERS}.pth')
    saved = ckpt['exact_resume']
    assert saved['world_size'] == 1 and saved['num_workers'] == 0
    assert set(saved['rng'][0]) >= {'python', 'numpy', 'torch'}
    # a checkpoint written without the hook: resume works, with a warning
    del ckpt['exact_resume']
    torch.save(ckpt, tmp_path / 'plain.pth')
    runner = toy_runner(tmp_path / 'r', MAX_ITERS + 1, resume=True,
                        load_from=str(tmp_path / 'plain.pth'),
                        custom_hooks=[dict(type='ExactResumeHook')])
    with pytest.raises(RuntimeError, match='no RNG states'):
        toy_runner(tmp_path / 's', MAX_ITERS + 1, resume=True,
                   load_from=str(tmp_path / 'plain.pth'),
                   custom_hooks=[dict(type='ExactResumeHook', strict=True)]).train()
    runner.train()
    assert runner.iter == MAX_ITERS + 1
    # load_from without resume starts at iteration 0: nothing to restore or warn
    toy_runner(tmp_path / 't', 2, load_from=str(tmp_path / 'plain.pth'),
               custom_hooks=[dict(type='ExactResumeHook', strict=True)]).train()
