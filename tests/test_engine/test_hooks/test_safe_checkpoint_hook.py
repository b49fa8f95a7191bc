"""SafeCheckpointHook: CheckpointHook's behaviour, written in a crash-safe order.

The SIGKILL trials are in tests/test_reliability/test_fault_injection.py;
these tests pin the protocol itself: what is written, in which order, and
what a restart cleans up.
"""
import os
import os.path as osp
import subprocess
import sys
import time

import pytest
import torch
from mmengine.runner import find_latest_checkpoint

import mmscratch  # noqa: F401  (registers the hook)
from mmscratch.engine.hooks import safe_checkpoint_hook as sch
from mmscratch.engine.hooks.safe_checkpoint_hook import SafeCheckpointHook
from mmscratch.utils import atomic_io
from mmscratch.utils.atomic_io import atomic_write_text, remove_stale_temporaries
from mmscratch.testing.runners import toy_runner


@pytest.fixture(autouse=True)
def _no_global_determinism_leak():
    yield
    torch.use_deterministic_algorithms(False)


def _files(work_dir):
    return sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))


@pytest.fixture
def fs_events(monkeypatch):
    """Every rename and delete the hook makes, in order."""
    events = []
    real_replace, real_remove = os.replace, os.remove

    def replace(src, dst):
        events.append(('commit', osp.basename(dst)))
        return real_replace(src, dst)

    def remove(path):
        events.append(('delete', osp.basename(path)))
        return real_remove(path)

    monkeypatch.setattr(os, 'replace', replace)
    monkeypatch.setattr(os, 'remove', remove)
    return events


def test_is_a_drop_in_checkpoint_hook(tmp_path):
    assert issubclass(SafeCheckpointHook, sch.CheckpointHook)
    runner = toy_runner(tmp_path, 7, checkpoint=dict(interval=2, max_keep_ckpts=2,
                                                     filename_tmpl='ckpt_{}.pth'))
    runner.train()
    # every 2 iterations plus the last one, the two newest kept
    assert _files(tmp_path) == ['ckpt_6.pth', 'ckpt_7.pth']
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'ckpt_7.pth')
    assert torch.load(tmp_path / 'ckpt_7.pth')['message_hub']['runtime_info'][
        'keep_ckpt_ids'] == [6, 7]
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_commit_then_update_last_checkpoint_then_prune(tmp_path, fs_events):
    toy_runner(tmp_path, 3, checkpoint=dict(interval=1, max_keep_ckpts=1)).train()
    assert fs_events == [
        ('commit', 'iter_1.pth'), ('commit', 'last_checkpoint'),
        ('commit', 'iter_2.pth'), ('commit', 'last_checkpoint'), ('delete', 'iter_1.pth'),
        ('commit', 'iter_3.pth'), ('commit', 'last_checkpoint'), ('delete', 'iter_2.pth'),
    ]


def test_failed_write_leaves_previous_checkpoint_untouched(tmp_path, monkeypatch):
    runner = toy_runner(tmp_path, 4, checkpoint=dict(interval=2, max_keep_ckpts=1))
    real_write_all = atomic_io.write_all

    def write_all(fd, data):
        if runner.iter + 1 == 4 and len(data) > 1000:  # the second save: the disk fills up
            real_write_all(fd, data[:len(data) // 2])
            raise OSError(28, 'No space left on device')
        real_write_all(fd, data)

    monkeypatch.setattr(atomic_io, 'write_all', write_all)
    with pytest.raises(OSError, match='No space'):
        runner.train()
    assert _files(tmp_path) == ['iter_2.pth']
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_restart_finishes_interrupted_pruning_and_removes_partial_files(tmp_path, monkeypatch):
    # crash between committing iter_2 (and last_checkpoint) and deleting iter_1
    real_remove = os.remove

    def crash_on_delete(path):
        raise KeyboardInterrupt('killed before pruning')

    monkeypatch.setattr(os, 'remove', crash_on_delete)
    with pytest.raises(KeyboardInterrupt):
        toy_runner(tmp_path, 3, checkpoint=dict(interval=1, max_keep_ckpts=1)).train()
    monkeypatch.setattr(os, 'remove', real_remove)
    assert _files(tmp_path) == ['iter_1.pth', 'iter_2.pth']
    # a killed writer of this host (its pid is gone), and a live one (this process)
    (tmp_path / _temporary_name('iter_3.pth', _dead_pid())).write_bytes(b'half a checkpoint')
    live = _temporary_name('iter_9.pth', os.getpid())
    (tmp_path / live).write_bytes(b'a save in progress')
    (tmp_path / 'notes.tmp').write_text('not ours: kept')
    runner = toy_runner(tmp_path, 3, resume=True, load_from=str(tmp_path / 'iter_2.pth'),
                        checkpoint=dict(interval=1, max_keep_ckpts=1))
    runner.train()
    assert _files(tmp_path) == ['iter_3.pth']
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.tmp')) == \
        sorted([live, 'notes.tmp'])


def test_best_checkpoint_replaced_only_after_the_new_one_is_written(tmp_path, fs_events):
    runner = toy_runner(tmp_path, 6, val_interval=2, lr=0.05,
                        checkpoint=dict(interval=2, max_keep_ckpts=1,
                                        save_best='mse', rule='less'))
    runner.train()
    best = [e for e in fs_events if 'best' in e[1]]
    assert [e[0] for e in best].count('delete') >= 1  # the best did improve
    # each new best is committed before the previous one is deleted
    for i, event in enumerate(best):
        if event[0] == 'delete':
            assert best[i - 1][0] == 'commit' and best[i - 1][1] != event[1]
    kept = [f for f in os.listdir(tmp_path) if f.startswith('best_')]
    assert len(kept) == 1 and torch.load(tmp_path / kept[0])['meta']['iter'] > 0
    assert runner.message_hub.get_info('best_ckpt') == str(tmp_path / kept[0])


def test_published_model_is_written_atomically(tmp_path, fs_events):
    toy_runner(tmp_path, 2, checkpoint=dict(interval=2, published_keys=['meta', 'state_dict'])
               ).train()
    published = [f for f in os.listdir(tmp_path) if f.startswith('iter_2-')]
    assert len(published) == 1 and ('commit', published[0]) in fs_events
    assert set(torch.load(tmp_path / published[0])) == {'meta', 'state_dict'}


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def _temporary_name(name: str, pid: int, host: str = None) -> str:
    return f'.{name}.{host or atomic_io.host_name()}.{pid}.0123abcd.tmp'


def test_atomic_write_and_stale_cleanup_helpers(tmp_path):
    path = str(tmp_path / 'last_checkpoint')
    atomic_write_text(path, 'a')
    atomic_write_text(path, 'b')
    assert open(path).read() == 'b' and os.listdir(tmp_path) == ['last_checkpoint']
    dead = _dead_pid()
    stale = tmp_path / _temporary_name('iter_9.pth', dead)
    stale.write_bytes(b'x')
    kept = [_temporary_name('iter_8.pth', os.getpid()),  # a live writer
            _temporary_name('iter_7.pth', dead, host='another-host'),  # can't tell: keep
            f'.iter_6.pth.{dead}.tmp']  # old-style name, recent: may be another host's
    for name in kept:
        (tmp_path / name).write_bytes(b'y')
    assert remove_stale_temporaries([str(tmp_path), str(tmp_path)]) == [str(stale)]
    assert sorted(kept) == sorted(f for f in os.listdir(tmp_path) if f.endswith('.tmp'))
    # an old-style temporary of a dead pid, a day old: removed
    old = tmp_path / kept[2]
    os.utime(old, (time.time() - atomic_io.OLD_TEMPORARY_MIN_AGE_S - 60,) * 2)
    assert remove_stale_temporaries([str(tmp_path)]) == [str(old)]


def test_stale_cleanup_never_touches_links(tmp_path):
    target = tmp_path / 'precious.txt'
    target.write_text('keep me')
    link = tmp_path / _temporary_name('iter_1.pth', _dead_pid())
    link.symlink_to(target)
    assert remove_stale_temporaries([str(tmp_path)]) == []
    assert link.is_symlink() and target.read_text() == 'keep me'


def test_paths_from_a_resumed_checkpoint_are_never_deleted(tmp_path):
    """A forged checkpoint names files outside the work dir (and non-steps) as
    due for pruning and as the previous best: resuming deletes none of them."""
    from mmscratch.checkpoint import load_checkpoint_file, to_plain_data

    outside = tmp_path / 'precious'
    outside.mkdir()
    victims = [outside / 'victim.pth', outside / 'best_mse_iter_1.pth']
    for victim in victims:
        victim.write_text('keep me')
    work_dir = tmp_path / 'work'
    toy_runner(work_dir, 2, val_interval=2, checkpoint=dict(
        interval=2, max_keep_ckpts=1, save_best='mse', rule='less')).train()
    (work_dir / 'notes.pth').write_text('a user file that merely looks like a checkpoint')
    path = work_dir / 'iter_2.pth'
    ckpt = load_checkpoint_file(str(path))
    info = ckpt['message_hub']['runtime_info']
    info[sch.PENDING_PRUNE_KEY] = ['../precious/victim', 1.0, -3, True, '2', [4]]
    info['keep_ckpt_ids'] = ['../precious/victim.pth', 2]
    info['best_ckpt'] = str(victims[1])
    info['best_score'] = float('inf')  # the next validation is a new best
    torch.save(to_plain_data(ckpt), path)
    runner = toy_runner(work_dir, 6, val_interval=2, resume=True, load_from=str(path),
                        checkpoint=dict(interval=2, max_keep_ckpts=1, save_best='mse',
                                        rule='less'))
    runner.train()
    assert all(v.read_text() == 'keep me' for v in victims)
    assert (work_dir / 'notes.pth').exists()
    assert 'iter_6.pth' in _files(work_dir)


def test_a_path_through_another_directory_is_never_deleted(tmp_path):
    """``OUT/sub/../iter_5.pth`` names a file of out_dir only while ``sub`` is what
    it is now; the hook deletes only ``OUT/<name>`` and only when the path is that."""
    work_dir = tmp_path / 'work'
    runner = toy_runner(work_dir, 2, checkpoint=dict(interval=2))
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, SafeCheckpointHook))
    (work_dir / 'sub').mkdir()
    target = work_dir / 'iter_2.pth'
    hook._remove_path(runner, str(work_dir / 'sub' / '..' / 'iter_2.pth'))
    assert target.exists()
    hook._remove_path(runner, str(target))
    assert not target.exists()


@pytest.mark.parametrize('hook_type', ['SafeCheckpointHook', 'CheckpointHook'])
def test_bookkeeping_through_a_planted_link_deletes_nothing_outside(tmp_path, hook_type):
    """A co-user plants ``WORK/iter_x -> ~/precious`` and a checkpoint whose
    ``keep_ckpt_ids`` holds ``'x/victim'``: MMEngine's ``CheckpointHook.before_train``
    would delete ``WORK/iter_x/victim.pth``, i.e. ``~/precious/victim.pth``, and
    its ``best_ckpt`` any file at all. Neither hook may delete either, on resume
    through MMEngine's own load path."""
    from mmscratch.checkpoint import load_checkpoint_file, to_plain_data

    outside = tmp_path / 'precious'
    outside.mkdir()
    victims = [outside / 'victim.pth', outside / 'notes.txt']
    for victim in victims:
        victim.write_text('keep me')
    work_dir = tmp_path / 'work'
    options = dict(type=hook_type, interval=2, max_keep_ckpts=1)
    toy_runner(work_dir, 2, val_interval=2, checkpoint=options).train()
    (work_dir / 'iter_x').symlink_to(outside, target_is_directory=True)
    path = work_dir / 'iter_2.pth'
    ckpt = load_checkpoint_file(str(path))
    info = ckpt['message_hub']['runtime_info']
    info['keep_ckpt_ids'] = ['x/victim', 2]
    info['best_ckpt'] = str(victims[1])
    info['best_score'] = float('inf')  # the next validation is a new best
    torch.save(to_plain_data(ckpt), path)
    runner = toy_runner(work_dir, 4, val_interval=2, resume=True, load_from=str(path),
                        checkpoint=dict(options, save_best='mse', rule='less'))
    runner.train()
    assert all(v.read_text() == 'keep me' for v in victims)
    assert runner.iter == 4 and 'iter_4.pth' in _files(work_dir)


def test_safe_hook_checks_keep_ids_however_the_message_hub_was_filled(tmp_path):
    outside = tmp_path / 'precious'
    outside.mkdir()
    (outside / 'victim.pth').write_text('keep me')
    work_dir = tmp_path / 'work'
    runner = toy_runner(work_dir, 2, checkpoint=dict(interval=2, max_keep_ckpts=1))
    (work_dir / 'iter_x').symlink_to(outside, target_is_directory=True)
    runner.message_hub.update_info('keep_ckpt_ids', ['x/victim', 1])
    runner.train()
    assert (outside / 'victim.pth').read_text() == 'keep me'
