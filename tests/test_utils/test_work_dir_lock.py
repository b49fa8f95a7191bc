"""One run per work dir: the lock refuses a second live job, takes over dead ones."""
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mmscratch.utils import work_dir_lock
from mmscratch.utils.atomic_io import host_name
from mmscratch.utils.work_dir_lock import LOCK_FILE, WorkDirInUse, WorkDirLock

REPO = Path(__file__).resolve().parents[2]

_HOLD = textwrap.dedent('''
    import sys, time
    from mmscratch.utils.work_dir_lock import WorkDirLock
    with WorkDirLock(sys.argv[1]):
        print('HELD', flush=True)
        time.sleep(float(sys.argv[2]))
''')


def _hold_in_another_process(work_dir, seconds=60):
    proc = subprocess.Popen([sys.executable, '-c', _HOLD, str(work_dir), str(seconds)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'HELD'
    return proc


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def _write_lock(work_dir, age_s=0.0, **fields):
    path = work_dir / LOCK_FILE
    path.write_text(json.dumps(fields))
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


@pytest.mark.slow
def test_a_second_live_job_is_refused_naming_the_first(tmp_path):
    holder = _hold_in_another_process(tmp_path)
    try:
        with pytest.raises(WorkDirInUse, match=rf'in use by another run: host {host_name()}, '
                                               rf'pid {holder.pid}'):
            WorkDirLock(str(tmp_path)).acquire()
    finally:
        holder.kill()
        holder.wait()
    # its process is gone now: the lock it left behind is taken over
    with WorkDirLock(str(tmp_path)) as lock:
        assert lock.read_holder()['pid'] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.parametrize('fields,age,taken', [
    (dict(host='another-node', pid=1), 5.0, False),  # alive as far as we can tell
    (dict(host='another-node', pid=1), 3600.0, True),  # heartbeat stale
    (None, 5.0, False),  # unreadable (half-written?) and fresh
    (None, 3600.0, True),  # unreadable and stale
])
def test_locks_of_other_hosts_are_judged_by_their_heartbeat(tmp_path, fields, age, taken):
    if fields is None:
        path = tmp_path / LOCK_FILE
        path.write_bytes(b'\x00garbage')
        os.utime(path, (time.time() - age,) * 2)
    else:
        _write_lock(tmp_path, age, **fields)
    lock = WorkDirLock(str(tmp_path))
    if taken:
        with lock:
            assert lock.read_holder()['host'] == host_name()
    else:
        with pytest.raises(WorkDirInUse):
            lock.acquire()


def test_a_dead_process_on_this_host_is_taken_over_and_logged(tmp_path, monkeypatch):
    _write_lock(tmp_path, 1.0, host=host_name(), pid=_dead_pid(), started='yesterday')
    messages = []
    monkeypatch.setattr(work_dir_lock, '_log', messages.append)
    with WorkDirLock(str(tmp_path)):
        pass
    assert len(messages) == 1 and 'took over' in messages[0] and 'is gone' in messages[0]


def test_heartbeat_keeps_the_lock_fresh_and_release_removes_only_ours(tmp_path):
    lock = WorkDirLock(str(tmp_path), heartbeat_s=0.05, stale_after_s=1.0)
    with lock:
        path = tmp_path / LOCK_FILE
        os.utime(path, (time.time() - 100,) * 2)
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 1.0
        # someone replaced our lock (after a takeover): release leaves theirs alone
        path.write_text(json.dumps(dict(host='x', pid=1, token='theirs')))
    assert json.loads(path.read_text())['token'] == 'theirs'


@pytest.mark.slow
def test_train_refuses_a_work_dir_that_another_job_holds(tmp_path):
    from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options
    data_root = make_tiny_dataset(tmp_path / 'shapes', num_train=2, num_val=1)
    holder = _hold_in_another_process(tmp_path / 'work')
    try:
        proc = subprocess.run(
            [sys.executable, str(REPO / 'tools' / 'train.py'), DEMO_CONFIG,
             '--work-dir', str(tmp_path / 'work'), '--cfg-options',
             *tiny_demo_options(data_root)],
            cwd=REPO, capture_output=True, text=True, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr[-3000:]
    assert 'in use by another run' in errors[0] and f'pid {holder.pid}' in errors[0]
    assert 'Traceback' not in proc.stderr
    # nothing of the second job was written into the held work dir
    assert sorted(os.listdir(tmp_path / 'work')) == [LOCK_FILE]


def test_two_jobs_taking_over_the_same_stale_lock_do_not_both_hold_it(tmp_path, monkeypatch):
    """B judged the lock stale; before B removes it, A takes it over. B must then
    see A's fresh lock and stop, not remove it."""
    _write_lock(tmp_path, 3600.0, host='dead-node', pid=1, token='old')
    a, b = WorkDirLock(str(tmp_path)), WorkDirLock(str(tmp_path))
    real_take_over = WorkDirLock._take_over

    def b_takes_over_late(self):
        if self is b and not a.held:
            a.acquire()  # A's whole takeover runs in B's window
        return real_take_over(self)

    monkeypatch.setattr(WorkDirLock, '_take_over', b_takes_over_late)
    try:
        with pytest.raises(WorkDirInUse, match='in use by another run'):
            b.acquire()
        assert a.held and a.read_holder()['token'] == a._token
    finally:
        a.release()
        b.release()


def test_a_takeover_left_half_done_does_not_block_forever(tmp_path):
    _write_lock(tmp_path, 3600.0, host='dead-node', pid=1)
    mutex = tmp_path / (LOCK_FILE + '.takeover')
    mutex.write_text('')
    with pytest.raises(WorkDirInUse, match='taking over'):
        WorkDirLock(str(tmp_path)).acquire()  # a takeover in progress right now
    os.utime(mutex, (time.time() - 120,) * 2)  # ... or one whose job died
    with WorkDirLock(str(tmp_path)) as lock:
        assert lock.read_holder()['pid'] == os.getpid()
    assert not mutex.exists()


def test_the_holder_is_printed_as_plain_text(tmp_path):
    _write_lock(tmp_path, 1.0, host='x\x1b[2J', pid=1, command='rm -rf /\x1b]0;owned\x07')
    with pytest.raises(WorkDirInUse) as info:
        WorkDirLock(str(tmp_path)).acquire()
    assert '\x1b' not in str(info.value) and '\x07' not in str(info.value)


def test_a_fifo_or_link_planted_as_the_lock_is_judged_without_blocking(tmp_path):
    """Opening a FIFO for reading blocks until someone writes to it: a FIFO
    planted as run.lock must be an unreadable lock, not a hung job. A link is
    never followed (the file it points to is never written)."""
    code = textwrap.dedent('''
        import os, sys
        from mmscratch.utils.work_dir_lock import WorkDirInUse, WorkDirLock
        work_dir = sys.argv[1]
        os.mkfifo(os.path.join(work_dir, 'run.lock'))
        try:
            WorkDirLock(work_dir).acquire()
        except WorkDirInUse as exc:
            print('REFUSED', exc)
    ''')
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'REFUSED' in proc.stdout and 'an unreadable lock' in proc.stdout, proc.stdout

    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    link = work_dir / LOCK_FILE
    link.symlink_to(victim)
    with pytest.raises(WorkDirInUse, match='an unreadable lock'):
        WorkDirLock(str(work_dir)).acquire()  # fresh: someone may be writing it
    os.utime(link, (time.time() - 3600,) * 2, follow_symlinks=False)
    with WorkDirLock(str(work_dir)) as lock:  # stale: taken over, the link removed
        assert lock.read_holder()['pid'] == os.getpid()
    assert victim.read_text() == 'keep me'


def test_a_lock_that_vanished_during_a_takeover_is_not_removed_after_another_job_took_it(
        tmp_path, monkeypatch):
    """A found a dead job's lock. Inside A's takeover the dead lock is gone
    (removed by hand) and job C takes the work dir at once: A must see C's
    fresh lock and stop, never remove it."""
    path = _write_lock(tmp_path, 3600.0, host='dead-node', pid=1, token='old')
    c_lock = json.dumps(dict(host=host_name(), pid=os.getpid(), token='job-c'))
    real_lstat, calls = os.lstat, []

    def lstat(p, *args, **kwargs):
        if str(p) == str(path):
            calls.append(p)
            if len(calls) == 2:  # A's look inside the takeover falls in the gap
                path.unlink()
                path.write_text(c_lock)  # ... after which C takes the work dir
                raise FileNotFoundError(2, 'No such file or directory', str(p))
        return real_lstat(p, *args, **kwargs)

    monkeypatch.setattr(os, 'lstat', lstat)
    with pytest.raises(WorkDirInUse, match='in use by another run'):
        WorkDirLock(str(tmp_path)).acquire()
    assert json.loads(path.read_text())['token'] == 'job-c'


def test_a_fresh_takeover_mutex_is_never_broken_as_a_stale_one(tmp_path, monkeypatch):
    """B judged a dead job's takeover mutex stale; before B breaks it, A broke it
    and now holds a fresh one. B must leave A's mutex alone."""
    _write_lock(tmp_path, 3600.0, host='dead-node', pid=1, token='old')
    mutex = tmp_path / (LOCK_FILE + '.takeover')
    mutex.write_text('')
    os.utime(mutex, (time.time() - 120,) * 2)
    real_lstat, swapped = os.lstat, []

    def lstat(p, *args, **kwargs):
        result = real_lstat(p, *args, **kwargs)
        if str(p) == str(mutex) and not swapped:
            swapped.append(True)
            mutex.unlink()
            mutex.write_text('')  # A's fresh mutex
        return result

    monkeypatch.setattr(os, 'lstat', lstat)
    a_mutex = None
    with pytest.raises(WorkDirInUse, match='taking over'):
        try:
            WorkDirLock(str(tmp_path)).acquire()
        finally:
            a_mutex = real_lstat(mutex) if mutex.exists() else None
    assert a_mutex is not None and time.time() - a_mutex.st_mtime < 60
    assert sorted(os.listdir(tmp_path)) == sorted([LOCK_FILE, LOCK_FILE + '.takeover'])


def test_train_refuses_a_link_where_mmengine_dumps_the_config(tmp_path):
    """MMEngine's Runner writes WORK_DIR/<config name> with a plain open(): a
    link planted there in a shared work dir would be written through."""
    from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options
    data_root = make_tiny_dataset(tmp_path / 'shapes', num_train=2, num_val=1)
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / Path(DEMO_CONFIG).name).symlink_to(victim)
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), DEMO_CONFIG,
         '--work-dir', str(work_dir), '--cfg-options', *tiny_demo_options(data_root)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr[-3000:]
    assert 'symbolic link' in errors[0] and 'Traceback' not in proc.stderr
    assert victim.read_text() == 'precious'
    assert sorted(os.listdir(work_dir)) == [Path(DEMO_CONFIG).name]  # the lock is gone too
