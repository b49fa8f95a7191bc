"""PreemptionHook on toy runs: a signal saves the current iteration, then the run stops.

Subprocess runs (``tools/train.py``, ``tools/dist_train.sh``, an external
SIGTERM to a process group, Slurm's requeue) are in
tests/test_reliability/test_cluster_faults.py; these pin the hook itself.
"""
import datetime
import json
import multiprocessing as mp
import os
import os.path as osp
import signal
import time
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import IterBasedTrainLoop

import mmscratch  # noqa: F401  (registers the hooks)
from mmscratch.engine.hooks import preemption_hook as ph
from mmscratch.engine.hooks.preemption_hook import (PREEMPTED_EXIT_CODE, SIGNALS, Preempted,
                                                    PreemptionHook)
from mmscratch.utils import atomic_io
from mmscratch.testing.runners import state_dicts_equal, toy_runner

MAX_ITERS = 12


@pytest.fixture(autouse=True)
def _clean_signal_state():
    yield
    SIGNALS.uninstall()
    SIGNALS.reset()
    torch.use_deterministic_algorithms(False)


class SignalAfter(Hook):
    """Send ``sig`` to this process during iteration ``at`` (1-based)."""

    priority = 'HIGHEST'

    def __init__(self, at, sig=signal.SIGTERM, times=1):
        self.at, self.sig, self.times = at, sig, times

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), self.sig)


def _files(work_dir):
    return sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))


def _run(work_dir, hooks, **kwargs):
    runner = toy_runner(work_dir, MAX_ITERS, custom_hooks=hooks, **kwargs)
    with pytest.raises(Preempted) as info:
        runner.train()
    return runner, info.value


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGUSR1])
def test_signal_saves_the_next_iteration_and_resume_is_exact(tmp_path, sig):
    straight = toy_runner(tmp_path / 'straight', MAX_ITERS,
                          checkpoint=dict(interval=5), custom_hooks=[dict(type='ExactResumeHook')])
    straight.train()

    work_dir = tmp_path / 'preempted'
    _, stop = _run(work_dir, [dict(type='ExactResumeHook'), SignalAfter(6, sig),
                              PreemptionHook()], checkpoint=dict(interval=5))
    # the signal came during iteration 6: iteration 7 ran, then was saved
    assert stop.saved and stop.exit_code == PREEMPTED_EXIT_CODE == 75
    assert stop.checkpoint == str(work_dir / 'iter_7.pth')
    assert _files(work_dir) == ['iter_5.pth', 'iter_7.pth']
    assert (work_dir / 'last_checkpoint').read_text().endswith('iter_7.pth')
    assert f'{signal.Signals(sig).name}: saved {work_dir / "iter_7.pth"}' in str(stop)
    assert signal.getsignal(sig) is not SIGNALS.handler  # handlers put back

    resumed = toy_runner(work_dir, MAX_ITERS, resume=True, checkpoint=dict(interval=5),
                         custom_hooks=[dict(type='ExactResumeHook'), PreemptionHook()])
    resumed.train()
    assert resumed.iter == MAX_ITERS
    assert state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())


def test_without_the_hook_the_signal_kills_the_process(tmp_path):
    """Control: the same signal, no hook: the process dies at once, unsaved."""
    ctx = mp.get_context('fork')

    def child():
        torch.set_num_threads(1)
        toy_runner(tmp_path, MAX_ITERS, checkpoint=dict(interval=5),
                   custom_hooks=[SignalAfter(6)]).train()

    proc = ctx.Process(target=child)
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGTERM
    assert _files(tmp_path) == ['iter_5.pth']


def test_a_second_signal_during_the_save_changes_nothing(tmp_path, monkeypatch):
    real_write_all = atomic_io.write_all
    interrupted = []

    def write_all(fd, data):
        if len(data) > 1000 and not interrupted:  # the pre-emption save, halfway
            real_write_all(fd, data[:len(data) // 2])
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGUSR1)
            interrupted.append(True)
            real_write_all(fd, data[len(data) // 2:])
            return
        real_write_all(fd, data)

    runner = toy_runner(tmp_path, MAX_ITERS, checkpoint=dict(interval=100),
                        custom_hooks=[SignalAfter(3), PreemptionHook()])
    monkeypatch.setattr(atomic_io, 'write_all', write_all)
    with pytest.raises(Preempted) as info:
        runner.train()
    assert interrupted and info.value.saved
    assert _files(tmp_path) == ['iter_4.pth']
    ckpt = torch.load(tmp_path / 'iter_4.pth')
    assert ckpt['meta']['iter'] == 4
    assert state_dicts_equal(ckpt['state_dict'], runner.model.state_dict())
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_a_signal_at_a_scheduled_save_saves_once(tmp_path, monkeypatch):
    commits = []
    real_replace = os.replace
    monkeypatch.setattr(os, 'replace', lambda s, d: (commits.append(osp.basename(d)),
                                                     real_replace(s, d))[1])
    _, stop = _run(tmp_path, [SignalAfter(4), PreemptionHook()], checkpoint=dict(interval=5))
    assert stop.saved and stop.checkpoint == str(tmp_path / 'iter_5.pth')
    assert commits.count('iter_5.pth') == 1
    assert '(the scheduled checkpoint)' in str(stop)


def test_hooks_that_gather_state_for_checkpoints_see_the_save_coming(tmp_path):
    """The save is announced like a scheduled one: the hooks that gather state
    for a checkpoint in after_train_iter (DataSeenHook's all-reduce,
    ExactResumeHook's all-gather) see ``iter_checkpoint_due`` on that iteration."""
    from mmscratch.utils.checkpoint_schedule import iter_checkpoint_due
    due = []

    class Probe(Hook):
        priority = 'NORMAL'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            due.append(iter_checkpoint_due(runner))

    _, stop = _run(tmp_path, [SignalAfter(2), Probe(), PreemptionHook()],
                   checkpoint=dict(interval=100))
    assert torch.load(stop.checkpoint)['meta']['iter'] == 3
    assert due == [False, False, True]


def test_epoch_based_checkpoints_exit_without_a_save(tmp_path):
    _, stop = _run(tmp_path, [SignalAfter(2), PreemptionHook()],
                   checkpoint=dict(interval=1, by_epoch=True))
    assert not stop.saved and stop.exit_code == 128 + signal.SIGTERM
    assert 'epoch-based' in str(stop) and 'no checkpoint exists yet' in str(stop)
    assert _files(tmp_path) == []


def test_signal_names_are_checked():
    with pytest.raises(ValueError, match='SIGTREM'):
        PreemptionHook(signals=['SIGTREM'])
    with pytest.raises(ValueError, match='SIGKILL cannot be caught'):
        PreemptionHook(signals=['SIGKILL'])
    assert PreemptionHook(signals='sigusr2').signums == [signal.SIGUSR2]


def test_launcher_record(tmp_path, monkeypatch):
    record = tmp_path / 'launch' / 'preempted.json'
    record.parent.mkdir()
    record.write_text('{"left": "by an earlier generation"}')
    monkeypatch.setenv(ph.RECORD_ENV, str(record))
    monkeypatch.setenv('LOCAL_RANK', '0')
    runner = toy_runner(tmp_path / 'work', MAX_ITERS, checkpoint=dict(interval=100),
                        custom_hooks=[PreemptionHook()])

    class Check(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            assert not record.exists()  # removed at the start of training
            if runner.iter == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    runner.register_hook(Check())
    with pytest.raises(Preempted):
        runner.train()
    assert json.loads(record.read_text()) == dict(
        exit_code=75, iteration=2, checkpoint=str(tmp_path / 'work' / 'iter_2.pth'),
        signal='SIGTERM')


def test_forked_workers_ignore_the_signal_until_released():
    """A dataloader worker (forked) survives a SIGTERM sent to the process
    group while the parent trains, and obeys it once the parent is done."""
    PreemptionHook()
    ctx = mp.get_context('fork')

    def worker():
        time.sleep(0.5)  # SIGTERM arrives meanwhile: ignored
        os._exit(3)

    proc = ctx.Process(target=worker)
    proc.start()
    time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(10)
    assert proc.exitcode == 3 and SIGNALS.received == []

    proc = ctx.Process(target=lambda: (time.sleep(5), os._exit(3)))
    proc.start()
    time.sleep(0.1)
    SIGNALS.release_workers()  # the parent finished training / is exiting
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(10)
    assert proc.exitcode == 0


def test_pytorch_workers_keep_the_handler():
    """PyTorch's workers install their own SIGTERM handler; it is put aside."""
    PreemptionHook()
    from torch.utils.data import DataLoader

    class Slow(torch.utils.data.Dataset):
        def __len__(self):
            return 100

        def __getitem__(self, i):
            time.sleep(0.02)
            return i

    loader = DataLoader(Slow(), num_workers=1, batch_size=None)
    iterator = iter(loader)
    assert next(iterator) == 0
    os.kill(iterator._workers[0].pid, signal.SIGTERM)  # not from the parent
    time.sleep(0.3)
    assert iterator._workers[0].is_alive()
    assert [int(next(iterator)) for _ in range(3)] == [1, 2, 3]
    iterator._shutdown_workers()


def test_an_evaluation_only_runner_is_stopped_by_the_signal():
    """A runner that never trains (tools/test.py on a config with the hook)
    keeps the default: a signal recorded before is delivered at before_test."""
    ctx = mp.get_context('fork')

    def child():
        hook = PreemptionHook()
        os.kill(os.getpid(), signal.SIGTERM)  # recorded, the process lives on
        time.sleep(0.1)
        hook.before_test(SimpleNamespace())
        time.sleep(5)
        os._exit(3)

    proc = ctx.Process(target=child)
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGTERM


# ------------------------------------------------------------- two gloo ranks
class _Runner(SimpleNamespace):
    """A stand-in runner (hashable and weak-referenceable, as a Runner is)."""

    __hash__ = object.__hash__


def _fake_runner(rank, work_dir):
    hook = CheckpointHook(interval=100, by_epoch=False)
    hook.out_dir = str(work_dir)
    from mmengine.fileio import get_file_backend
    hook.file_backend = get_file_backend(hook.out_dir)
    hook.last_ckpt = None
    saved = []
    hook._save_checkpoint = lambda runner: saved.append(runner.iter + 1)
    import logging
    runner = _Runner(hooks=[hook], iter=0, work_dir=str(work_dir),
                             logger=logging.getLogger(f'rank{rank}'),
                             train_loop=object.__new__(IterBasedTrainLoop))
    return runner, saved


def _rank_main(rank, init_file, work_dir, scenario, queue):
    torch.set_num_threads(1)
    torch.distributed.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                                         world_size=2, timeout=datetime.timedelta(seconds=60))
    if scenario == 'peer_dies' and rank == 1:
        os._exit(1)
    hook = PreemptionHook()
    runner, saved = _fake_runner(rank, work_dir)
    result = None
    try:
        for it in range(10):
            runner.iter = it
            if (it == 3 and rank == 1) or (it == 0 and scenario == 'peer_dies'):
                os.kill(os.getpid(), signal.SIGTERM)  # only this rank is signalled
            hook.before_train_iter(runner, it)
            hook.after_train_iter(runner, it)
    except Preempted as exc:
        result = (rank, runner.iter + 1, exc.saved, exc.exit_code, saved)
    except Exception as exc:  # noqa: BLE001  (reported to the test)
        result = (rank, 'error', repr(exc))
    queue.put(result)
    queue.close()
    queue.join_thread()  # flushed before the hard exit
    os._exit(0)  # no teardown of a process group whose peer may be gone


def _two_ranks(tmp_path, scenario, expected):
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(r, tmp_path / 'pg', tmp_path, scenario,
                                                  queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=120) for _ in range(expected))
    for p in procs:
        p.join(30)
    return results


def test_one_signalled_rank_makes_all_ranks_save_the_same_iteration(tmp_path):
    results = _two_ranks(tmp_path, 'one_signalled', 2)
    # rank 1 got SIGTERM during iteration 4's start: both agreed there, saved 4
    assert results == [(0, 4, True, 75, [4]), (1, 4, True, 75, [4])]


def test_a_signal_with_a_dead_peer_exits_unsaved_without_hanging(tmp_path):
    started = time.time()
    results = _two_ranks(tmp_path, 'peer_dies', 1)
    assert results == [(0, 1, False, 128 + signal.SIGTERM, [])]
    # the peer's closed connection ends it, not the 60 s collective timeout
    assert time.time() - started < 45


@pytest.mark.parametrize('saved, code', [(True, 75), (False, 143)])
def test_tools_exit_with_the_code_of_the_preemption(saved, code, capsys):
    from mmscratch.apis.cli import run_cli

    def main():
        raise Preempted('PreemptionHook: ...', saved, code, None)

    with pytest.raises(SystemExit) as info:
        run_cli(main)
    assert info.value.code == code
    assert capsys.readouterr().err == ''  # the hook logged it; no error line, no traceback
