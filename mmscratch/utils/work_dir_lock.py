"""One run per work dir: a lock file held for the run's lifetime.

Two jobs on the same work dir (a re-submitted Slurm job, a second
``--resume`` typed by hand) would both train and overwrite each other's
checkpoints and ``last_checkpoint``. ``tools/train.py`` therefore takes
``WORK_DIR/run.lock`` on rank 0 before anything is written:

* the lock is created atomically (``O_CREAT | O_EXCL | O_NOFOLLOW``) and holds
  JSON: host, pid, start time, command, heartbeat period;
* while the run lives, a daemon thread touches it every ``heartbeat_s``;
* a second job finds it and stops with one line naming the first
  (:class:`WorkDirInUse`);
* a lock whose process is gone (same host), or whose heartbeat is older than
  ``stale_after_s`` (a job on another host that died with its node), is taken
  over, and the takeover is logged;
* the lock is removed when the run ends, whether it succeeded or failed.

The lock file is read as data (size-limited JSON); nothing in it is executed
or used as a path.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import os.path as osp
import secrets
import stat
import sys
import threading
import time
from typing import Optional, Tuple

from .atomic_io import host_name, process_is_alive
from .run_files import read_regular_file

LOCK_FILE = 'run.lock'
HEARTBEAT_S = 30.0
#: A heartbeat this old means the holder is dead (twenty missed beats).
STALE_AFTER_S = 600.0
#: A takeover mutex this old was left by a job that died while taking over.
TAKEOVER_STALE_S = 60.0
_MAX_LOCK_BYTES = 4096
_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0)
          | getattr(os, 'O_CLOEXEC', 0))


def _printable(value, limit: int) -> str:
    return ''.join(c if ' ' <= c <= '~' else '?' for c in str(value)[:limit])


class WorkDirInUse(RuntimeError):
    """Another live run holds the work dir."""


def _log(message: str, level=logging.WARNING) -> None:
    from mmengine.logging import print_log
    print_log(message, logger='current', level=level)


class WorkDirLock:
    """``WORK_DIR/run.lock`` for one run (a context manager).

    Args:
        work_dir: the run's work dir (created if missing).
        heartbeat_s: how often the lock is touched while held.
        stale_after_s: a lock not touched for this long is taken over.
    """

    def __init__(self, work_dir: str, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S):
        if stale_after_s <= heartbeat_s:
            raise ValueError('stale_after_s must be longer than heartbeat_s')
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_FILE)
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self._token = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.held = False

    # ------------------------------------------------------------- reading
    def read_holder(self) -> Optional[dict]:
        """The lock's JSON, or None if it is missing, not a regular file, or not JSON."""
        return self._parse(self._content(self.path))

    @staticmethod
    def _content(path: str) -> Optional[bytes]:
        """A lock file's bytes; None for a link, FIFO, device (never opened for
        reading: a FIFO would block), a missing or an oversized file."""
        try:
            return read_regular_file(path, _MAX_LOCK_BYTES)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _parse(data: Optional[bytes]) -> Optional[dict]:
        try:
            holder = json.loads(data.decode('utf-8')) if data is not None else None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return None
        return holder if isinstance(holder, dict) else None

    def _observe(self, path: str) -> Optional[Tuple[tuple, float, Optional[bytes]]]:
        """``(identity, age_s, content)`` of the file at ``path`` now, or None.

        The identity (device, inode, mtime for an empty or unreadable file,
        content) tells this file from one created under the same name later,
        even on an inode the file system reused.
        """
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        content = self._content(path) if stat.S_ISREG(st.st_mode) else None
        mark = content if content else st.st_mtime_ns
        return (st.st_dev, st.st_ino, mark), time.time() - st.st_mtime, content

    def _age_s(self) -> Optional[float]:
        try:
            return time.time() - os.lstat(self.path).st_mtime
        except FileNotFoundError:
            return None

    @staticmethod
    def describe(holder: Optional[dict]) -> str:
        """The holder in one line; printable ASCII only (the file is someone else's)."""
        if holder is None:
            return 'an unreadable lock'
        fields = {k: holder.get(k) for k in ('host', 'pid', 'started')}
        text = ', '.join(f'{k} {_printable(v, 64)}' for k, v in fields.items() if v is not None)
        command = holder.get('command')
        if isinstance(command, str) and command:
            text += f' ({_printable(command, 120)})'
        return text or 'an unnamed holder'

    def _takeover_reason(self, holder: Optional[dict], age: Optional[float]) -> Optional[str]:
        """Why the existing lock may be taken over, or None while its holder lives."""
        if age is None:
            return 'it disappeared'
        if holder is not None and holder.get('host') == host_name() \
                and isinstance(holder.get('pid'), int) and holder['pid'] != os.getpid():
            if not process_is_alive(holder['pid']):
                return f'its process {holder["pid"]} on this host is gone'
        if age > self.stale_after_s:
            return f'its heartbeat is {age:.0f} s old (stale after {self.stale_after_s:.0f} s)'
        return None

    # ------------------------------------------------------------- holding
    def acquire(self) -> 'WorkDirLock':
        os.makedirs(self.work_dir, exist_ok=True)
        record = dict(host=host_name(), pid=os.getpid(), token=self._token,
                      started=datetime.datetime.now().isoformat(timespec='seconds'),
                      heartbeat_s=self.heartbeat_s, command=' '.join(sys.argv)[:1000])
        data = json.dumps(record).encode('utf-8')
        for _ in range(5):
            try:
                fd = os.open(self.path, _FLAGS, 0o644)
            except FileExistsError:
                holder, age = self.read_holder(), self._age_s()
                if self._takeover_reason(holder, age) is None:
                    raise self._in_use(holder) from None
                self._take_over()
                continue
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            self.held = True
            self._start_heartbeat()
            return self
        raise WorkDirInUse(f'could not take the lock {self.path}: other runs keep taking it')

    def _in_use(self, holder: Optional[dict]) -> WorkDirInUse:
        return WorkDirInUse(
            f'work dir {self.work_dir} is in use by another run: {self.describe(holder)}; '
            f'stop that job or choose another --work-dir (lock file {self.path}; remove it '
            'only if that job is certainly dead)')

    def _take_over(self) -> None:
        """Remove a stale lock, judged again while holding the takeover mutex.

        Two jobs that both found the lock stale must not both remove it: the
        second could remove the fresh lock the first just took. So takeovers
        are serialized by ``run.lock.takeover`` (``O_EXCL``); inside it the
        lock is read and judged again. Nothing is removed by name after being
        judged: the file is renamed aside and removed only if it is the very
        file judged stale (:meth:`_remove_if_unchanged`); a lock that
        disappeared is left for the caller's next ``O_EXCL`` try. A mutex left
        by a job that died while taking over is broken the same way.
        """
        mutex = self.path + '.takeover'
        try:
            fd = os.open(mutex, _FLAGS, 0o644)
        except FileExistsError:
            seen = self._observe(mutex)
            if seen is None:
                return  # it just ended: the caller tries again
            if seen[1] <= TAKEOVER_STALE_S:
                raise WorkDirInUse(f'work dir {self.work_dir}: another job is taking over its '
                                   f'lock right now ({mutex}); try again') from None
            if not self._remove_if_unchanged(mutex, seen[0]):  # left by a job that died
                raise WorkDirInUse(f'work dir {self.work_dir}: another job is taking over its '
                                   f'lock right now ({mutex}); try again') from None
            return
        os.close(fd)
        try:
            seen = self._observe(self.path)
            if seen is None:
                return  # gone (its holder ended): the caller's O_EXCL decides
            identity, age, content = seen
            holder = self._parse(content)
            reason = self._takeover_reason(holder, age)
            if reason is None:
                raise self._in_use(holder)
            if not self._remove_if_unchanged(self.path, identity):
                raise self._in_use(self.read_holder())
            _log(f'work dir lock: took over {self.path} from {self.describe(holder)}: {reason}')
        finally:
            os.remove(mutex)

    def _remove_if_unchanged(self, path: str, identity: tuple) -> bool:
        """Remove ``path`` if it is still the file ``identity`` names.

        Renamed aside first (atomic: one remover gets it), compared, and put
        back under its name if another job's file took the name meanwhile.
        """
        aside = f'{path}.{host_name()}.{os.getpid()}.{self._token}.stale'
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return True  # removed meanwhile: nothing to do
        seen = self._observe(aside)
        if seen is not None and seen[0] == identity:
            os.remove(aside)
            return True
        try:
            os.link(aside, path)  # not ours to remove: back, unless the name is taken again
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            try:
                os.rename(aside, path)
                return False
            except OSError:
                pass
        try:
            os.remove(aside)
        except FileNotFoundError:
            pass
        return False

    def _start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(self.heartbeat_s):
                try:
                    os.utime(self.path, follow_symlinks=False)
                except OSError:
                    pass  # the file system is briefly away; the next beat retries
        self._thread = threading.Thread(target=beat, name='mmscratch-work-dir-lock',
                                        daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and remove the lock, if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.held:
            holder = self.read_holder()
            if holder is not None and holder.get('token') == self._token:
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
            self.held = False

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
