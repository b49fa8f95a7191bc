"""DivergenceRecoveryHook on toy runs: detect, skip, roll back, lower the LR, go on.

The demo-model version (a NaN injected into a real Mask R-CNN run) is in
tests/test_reliability/test_divergence_demo.py.
"""
import multiprocessing as mp
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.runner import find_latest_checkpoint

import mmscratch  # noqa: F401  (registers the hooks)
from mmscratch.engine.hooks.divergence_recovery_hook import (DivergenceError,
                                                              DivergenceRecoveryHook)
from mmscratch.testing.runners import toy_runner

NAN = float('nan')
# by_epoch=False spelled out: without it MMEngine sets the scheduler's end to
# max_epochs (1) when no ScratchIterBasedTrainLoop fills it in.
SCHEDULE = dict(type='ScratchScheduleLR', total_iters=10, drops_before_end=(4, 2),
                warmup_iters=0, by_epoch=False)


@pytest.fixture(autouse=True)
def _no_global_determinism_leak():
    yield
    torch.use_deterministic_algorithms(False)


class Probe(Hook):
    """Copies the weights right after the recovery hook acted at ``at``."""

    priority = 'NORMAL'  # after DivergenceRecoveryHook (ABOVE_NORMAL)

    def __init__(self, at):
        self.at, self.state = at, None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            self.state = {k: v.clone() for k, v in runner.model.state_dict().items()}


class PoisonWeights(Hook):
    """Sets the weights to NaN before iteration ``at`` (a corrupted state)."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            runner.model.linear.weight.data.fill_(NAN)


def _run(work_dir, max_iters=10, loss_factor=None, hooks=(), guard=None, **kwargs):
    guard_cfg = dict(type='DivergenceRecoveryHook', **(guard or {}))
    runner = toy_runner(work_dir, max_iters, scheduler=SCHEDULE,
                        custom_hooks=[guard_cfg, *hooks], **kwargs)
    runner.model.loss_factor = dict(loss_factor or {})
    return runner


def _guard(runner):
    return next(h for h in runner.hooks if isinstance(h, DivergenceRecoveryHook))


def _finite(runner):
    return all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_nan_loss_is_skipped_rolled_back_and_lr_lowered(tmp_path, caplog):
    probe = Probe(at=5)
    runner = _run(tmp_path, loss_factor={5: NAN}, hooks=[probe])
    runner.train()
    assert runner.iter == 10 and _finite(runner)
    guard = _guard(runner)
    assert guard.recoveries == 1 and guard.lr_scale == 0.5
    assert guard.events[0]['iter'] == 5 and guard.events[0]['rolled_back_to'] == 3
    # the weights were those of the last checkpoint (iteration 3) right after
    checkpoint = torch.load(tmp_path / 'iter_3.pth')['state_dict']
    assert all(torch.equal(probe.state[k], checkpoint[k]) for k in checkpoint)
    # the LR keeps the schedule's shape at half its height: x0.1 x0.1 at the end
    assert runner.optim_wrapper.get_lr()['lr'] == [pytest.approx(0.01 * 0.5 * 0.01)]
    log = open(runner.logger.handlers[-1].baseFilename).read()
    assert log.count('DivergenceRecoveryHook: recovery 1/3 at iteration 5: non-finite loss') == 1
    # the recovery state is in later checkpoints, so it survives a resume
    saved = torch.load(tmp_path / 'iter_10.pth')
    assert saved['divergence_recovery']['recoveries'] == 1
    assert saved['param_schedulers'][0]['base_values'] == [pytest.approx(0.005)]
    resumed = _run(tmp_path, 11, resume=True, load_from=str(tmp_path / 'iter_10.pth'))
    resumed.train()
    assert _guard(resumed).recoveries == 1 and _guard(resumed).lr_scale == 0.5


def test_corrupted_weights_are_restored(tmp_path):
    runner = _run(tmp_path, hooks=[PoisonWeights(at=8)])
    runner.train()
    assert _guard(runner).recoveries == 1 and _finite(runner)
    assert _guard(runner).events[0]['rolled_back_to'] == 6
    # control: without the hook the run ends with NaN weights
    unguarded = toy_runner(tmp_path / 'plain', 10, custom_hooks=[PoisonWeights(at=8)])
    unguarded.train()
    assert not _finite(unguarded)


def test_stops_after_max_recoveries_with_the_last_good_checkpoint_intact(tmp_path):
    runner = _run(tmp_path, loss_factor={i: NAN for i in range(5, 11)},
                  guard=dict(max_recoveries=2))
    with pytest.raises(DivergenceError, match=r'iteration 7.*after 2 recoveries') as err:
        runner.train()
    latest = find_latest_checkpoint(str(tmp_path))
    assert latest in str(err.value)
    # iteration 6 was recovered (weights of 3) and checkpointed; 7 stopped the
    # run before its checkpoint hook: nothing after it was written
    assert latest.endswith('iter_6.pth')
    ckpt = torch.load(latest)
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values())
    assert ckpt['divergence_recovery']['recoveries'] == 2


def test_loss_spike_and_gradient_threshold(tmp_path):
    runner = _run(tmp_path, loss_factor={8: 1e4}, guard=dict(min_history=3, spike_factor=20))
    runner.train()
    assert _guard(runner).recoveries == 1
    assert 'running average' in _guard(runner).events[0]['reasons'][0]
    # every step over the gradient threshold; no checkpoint yet at iteration 1:
    # the skipped update is the recovery, then the second one stops the run
    runner = _run(tmp_path / 'g', guard=dict(grad_norm_threshold=1e-9, max_recoveries=1))
    with pytest.raises(DivergenceError, match=r'iteration 2: gradient norm .*none written yet'):
        runner.train()
    assert _guard(runner).events[0]['rolled_back_to'] is None


def test_argument_validation():
    with pytest.raises(ValueError):
        DivergenceRecoveryHook(lr_factor=0)
    with pytest.raises(ValueError):
        DivergenceRecoveryHook(spike_factor=1)
    with pytest.raises(ValueError):
        DivergenceRecoveryHook(max_recoveries=-1)


def _rank_main(rank, init_file, queue):
    torch.set_num_threads(1)  # forked from a process that may have used OpenMP
    torch.distributed.init_process_group('gloo', init_method=f'file://{init_file}',
                                         rank=rank, world_size=2)
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    runner = SimpleNamespace(optim_wrapper=wrapper, iter=0)
    hook = DivergenceRecoveryHook()
    hook.before_train(runner)
    before = model.weight.detach().clone()
    loss = model(torch.ones(1, 2)).sum()
    if rank == 1:
        loss = loss * NAN  # only rank 1 sees the NaN
    wrapper.update_params(loss)
    queue.put((rank, hook._anomaly is not None, torch.equal(before, model.weight.detach())))
    torch.distributed.destroy_process_group()


def test_all_ranks_agree(tmp_path):
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(r, tmp_path / 'pg', queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    # rank 0's loss was finite, yet it also skipped the step: weights identical
    assert results == [(0, True, True), (1, True, True)]
