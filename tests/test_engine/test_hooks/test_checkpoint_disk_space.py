"""SafeCheckpointHook and a filling disk: early warnings, one clear error, nothing lost.

The run on a real 2 MiB tmpfs is in tests/test_reliability/test_cluster_faults.py
(where mounting is allowed); here the disk fills up by injection.
"""
import errno
import os
import re
from pathlib import Path

import pytest
import torch

import mmscratch  # noqa: F401  (registers the hooks)
from mmscratch.apis.cli import run_cli
from mmscratch.engine.hooks import safe_checkpoint_hook as sch
from mmscratch.engine.hooks.safe_checkpoint_hook import CheckpointSaveError
from mmscratch.utils import atomic_io
from mmscratch.utils.disk_space import (SpacePlan, estimate_checkpoint_bytes, format_bytes,
                                        free_bytes)
from mmscratch.testing.runners import RandomToyModel, toy_runner

BALLAST = 50_000  # 200 KB of float32 in every checkpoint


@pytest.fixture(autouse=True)
def _no_global_determinism_leak():
    yield
    torch.use_deterministic_algorithms(False)


def _fill_disk_at(monkeypatch, runner, iteration):
    """From the save at ``iteration`` on, writes stop halfway with ENOSPC."""
    real_write_all = atomic_io.write_all

    def write_all(fd, data):
        if runner.iter + 1 >= iteration and len(data) > 1000:
            real_write_all(fd, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write_all(fd, data)

    monkeypatch.setattr(atomic_io, 'write_all', write_all)


def test_enospc_during_a_save_is_one_line_naming_file_bytes_and_last_good(tmp_path,
                                                                          monkeypatch):
    runner = toy_runner(tmp_path, 6, ballast=BALLAST, checkpoint=dict(interval=2))
    _fill_disk_at(monkeypatch, runner, 4)
    monkeypatch.setattr(sch, 'free_bytes', lambda path: 123_456)
    with pytest.raises(CheckpointSaveError) as info:
        runner.train()
    error = info.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert error.filename == str(tmp_path / 'iter_4.pth')
    message = str(error)
    assert '\n' not in message
    assert message.startswith(f'could not save checkpoint {tmp_path}/iter_4.pth: '
                              'No space left on device (errno 28); ')
    needed = float(re.search(r'; ([\d.]+) KiB needed, 121 KiB free on ', message).group(1))
    size_2 = os.path.getsize(tmp_path / 'iter_2.pth')
    assert abs(needed * 1024 - size_2) < 0.01 * size_2  # the serialized checkpoint's size
    assert f'the last good checkpoint is {tmp_path}/iter_2.pth' in message
    assert message.endswith('then run again with --resume')
    # nothing lost, nothing left behind
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == ['iter_2.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_enospc_before_any_checkpoint_says_so(tmp_path, monkeypatch):
    runner = toy_runner(tmp_path, 4, checkpoint=dict(interval=2))
    _fill_disk_at(monkeypatch, runner, 1)
    with pytest.raises(CheckpointSaveError, match='no checkpoint was saved before'):
        runner.train()


def test_any_oserror_during_a_save_is_reported_the_same_way(tmp_path, monkeypatch):
    runner = toy_runner(tmp_path, 4, checkpoint=dict(interval=2))
    real = atomic_io.write_all

    def write_all(fd, data):
        if runner.iter + 1 == 4:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd, data)

    monkeypatch.setattr(atomic_io, 'write_all', write_all)
    with pytest.raises(CheckpointSaveError, match=r'iter_4.pth: Input/output error \(errno 5\)'):
        runner.train()


def test_tool_prints_one_error_line_and_exits_1(tmp_path, monkeypatch, capsys):
    """tools/train.py's way out: one ``error:`` line on stderr, exit status 1."""
    runner = toy_runner(tmp_path, 6, checkpoint=dict(interval=2))
    _fill_disk_at(monkeypatch, runner, 4)
    with pytest.raises(SystemExit) as info:
        run_cli(runner.train)
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f'error: could not save checkpoint {tmp_path}/iter_4.pth: No space left on device')


def _warnings(runner):
    """The disk-space warnings in the run's log file."""
    log = ''.join(p.read_text() for p in sorted(Path(runner.log_dir).glob('*.log')))
    return [line.split('SafeCheckpointHook: disk space: ', 1)[1]
            for line in log.splitlines() if 'SafeCheckpointHook: disk space:' in line]


class _Stop(Exception):
    pass


def _start_only(runner):
    """Stop the run at its first iteration: only the start-of-training checks run."""
    from mmengine.hooks import Hook

    class StopAtFirstIteration(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            raise _Stop

    runner.register_hook(StopAtFirstIteration())
    with pytest.raises(_Stop):
        runner.train()
    return _warnings(runner)


@pytest.mark.parametrize('max_iters, expected', [
    (20, 'save 3 from now (iteration 12) will fail'),
    (10, 'save 3 from now (iteration 10) will fail'),  # save_last: the end of the run
    (8, None),  # two saves (4, 8): both fit
])
def test_warns_at_start_naming_the_save_that_will_fail(tmp_path, monkeypatch, max_iters,
                                                        expected):
    """Before the first checkpoint its size is estimated from the model and the
    optimizer: ~195 KiB; room for two while three are kept (and a fourth is
    written before the oldest goes)."""
    monkeypatch.setattr(sch, 'free_bytes', lambda path: 2 * 215_000)
    runner = toy_runner(tmp_path, max_iters, ballast=BALLAST,
                        checkpoint=dict(interval=4, max_keep_ckpts=3))
    warnings = _start_only(runner)
    if expected is None:
        assert warnings == []
        return
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        f'{tmp_path} has 420 KiB free; keeping 3 checkpoint(s) of about 195 KiB needs 781 '
        'KiB more (one extra checkpoint is written before the oldest is deleted): ')
    assert expected in warnings[0]


def test_warns_before_a_save_that_cannot_fit(tmp_path, monkeypatch):
    """Sizes come from the last checkpoint written once there is one."""
    free = [10 ** 9]
    monkeypatch.setattr(sch, 'free_bytes', lambda path: free[0])
    runner = toy_runner(tmp_path, 4, ballast=BALLAST, checkpoint=dict(interval=2))
    from mmengine.hooks import Hook

    class DiskFills(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 == 3:
                free[0] = 1000

    runner.register_hook(DiskFills())
    runner.train()  # the write itself is not stopped here: only the warning is checked
    warnings = _warnings(runner)
    size = os.path.getsize(tmp_path / 'iter_2.pth')
    assert warnings == [f'{tmp_path} has 1000 B free, the next checkpoint (iteration 4) '
                        f'needs about {format_bytes(size)}: that save will fail. Free space '
                        'or move the work dir, then --resume']


def test_space_plan_arithmetic():
    mib = 1 << 20
    # keeping 3 of 10 MiB: 40 MiB at a save; 25 MiB free -> saves 1, 2 fit, 3 fails
    plan = SpacePlan('/w', 10 * mib, 3, 0, 25 * mib)
    assert plan.needed_to_keep_all == 40 * mib and plan.saves_that_fit == 2
    assert 'save 3 from now (iteration 3000) will fail' in plan.problem(
        iter(range(1000, 10 ** 9, 1000)))
    assert plan.problem(iter([1000, 2000])) is None  # the run ends first
    assert 'save 3 from now will fail' in plan.problem()
    # two already on disk: 20 MiB more needed, 25 free: fine
    assert SpacePlan('/w', 10 * mib, 3, 20 * mib, 25 * mib).problem() is None
    # not even the next save
    assert 'the next checkpoint (iteration 7) needs about 10 MiB: that save will fail' in \
        SpacePlan('/w', 10 * mib, 3, 30 * mib, 5 * mib).problem(iter([7]))
    # keep all: only the next save is checked
    assert SpacePlan('/w', 10 * mib, -1, 0, 15 * mib).problem() is None
    assert 'the next checkpoint' in SpacePlan('/w', 10 * mib, -1, 0, 5 * mib).problem()


def test_size_estimate_counts_optimizer_state():
    model = RandomToyModel(ballast=1000)  # 4000 B buffer + linear(2, 1): 12 B of parameters
    params = sum(p.numel() * 4 for p in model.parameters())
    base = 4000 + params
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    adam = torch.optim.AdamW(model.parameters())
    assert estimate_checkpoint_bytes(model) == base
    assert estimate_checkpoint_bytes(model, [sgd]) == base + params
    assert estimate_checkpoint_bytes(model, [adam]) == base + 2 * params
    plain = torch.optim.SGD(model.parameters(), lr=0.1)
    assert estimate_checkpoint_bytes(model, [plain]) == base


def test_free_bytes_and_format(tmp_path):
    assert free_bytes(str(tmp_path)) > 0
    assert free_bytes(str(tmp_path / 'missing')) is None
    assert format_bytes(512) == '512 B' and format_bytes(3 * 1024 ** 2) == '3 MiB'
    assert format_bytes(None) == 'an unknown amount'
