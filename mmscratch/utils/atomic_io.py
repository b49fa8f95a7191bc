"""Atomic file writes that never follow a link planted in a shared directory.

A write goes to a fresh temporary file next to the target, created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` under an unpredictable name
(``.<name>.<host>.<pid>.<random>.tmp``): if anything already exists there
-- a file, or a symlink someone planted to make us overwrite another file --
the create fails and the name is drawn again, so the bytes only ever land in
a file this process just created. The file is fsync'ed and renamed over the
target (``os.replace`` replaces a link at the target, it does not follow it),
and the directory is fsync'ed: readers see the old file or the new one,
never a part. Used for checkpoints (``SafeCheckpointHook``),
``last_checkpoint``, the convergence curve and the tools' JSON outputs.

Temporaries of a killed writer are removed by :func:`remove_stale_temporaries`
only when their writer is gone: same host and its process no longer exists.
A second job writing to the same directory keeps its files.
"""
from __future__ import annotations

import errno
import os
import os.path as osp
import re
import secrets
import socket
import stat
import time
from typing import Iterable, List, Tuple

_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0)
                 | getattr(os, 'O_CLOEXEC', 0))
_HOST = re.sub(r'[^A-Za-z0-9-]', '-', socket.gethostname())[:64] or 'host'
_TMP_PATTERN = re.compile(
    r'^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]{1,64})\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$')
# Temporaries of mmscratch before host names were added: ".<name>.<pid>.tmp".
_OLD_TMP_PATTERN = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$')
#: An old-style temporary (no host in its name) is removed only when its pid is
#: gone here *and* it is this old: it may belong to a live job on another host.
OLD_TEMPORARY_MIN_AGE_S = 24 * 3600
_WRITE_CHUNK = 16 << 20


def host_name() -> str:
    """This host's name as it appears in temporary and lock file names."""
    return _HOST


def create_temporary(path: str) -> Tuple[int, str]:
    """A new, exclusively created temporary file beside ``path``: ``(fd, tmp_path)``."""
    directory, name = osp.split(path)
    for _ in range(64):
        tmp = osp.join(directory, f'.{name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp')
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o644), tmp
        except FileExistsError:
            continue  # taken, or something planted there: draw another name
    raise FileExistsError(errno.EEXIST, f'no free temporary name beside {path}')


def write_all(fd: int, data: bytes) -> None:
    """``data`` to ``fd``, in chunks (a write may be short)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:_WRITE_CHUNK])
        view = view[written:]


def fsync_dir(path: str) -> None:
    """Make a rename in ``path`` durable; a no-op where directories can't be opened."""
    try:
        fd = os.open(path or '.', os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename still happened
    finally:
        os.close(fd)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a part.

    On any failure (disk full, a signal) the temporary file is removed and
    ``path`` is untouched.
    """
    fd, tmp = create_temporary(path)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    fsync_dir(osp.dirname(path))


def write_new_file(path: str, data: bytes) -> None:
    """Create ``path`` (it must not exist: ``O_EXCL | O_NOFOLLOW``) holding ``data``.

    For outputs that must never replace anything, such as a converted
    checkpoint; a failed write removes the partial file.
    """
    try:
        fd = os.open(path, _CREATE_FLAGS, 0o644)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, f'{path} exists; not overwriting it') from None
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _remove_quietly(path)
        raise
    fsync_dir(osp.dirname(path))


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode('utf-8'))


def append_line(path: str, line: str) -> None:
    """Append one line to ``path`` durably, refusing a symlink at ``path`` (ELOOP)
    and a FIFO or device planted there (which would block or swallow the line)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0)
                 | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0), 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, 'not a regular file', path)
        os.set_blocking(fd, True)
        write_all(fd, line.encode('utf-8'))
        os.fsync(fd)
    finally:
        os.close(fd)


def create_log_file(path: str, append: bool = False) -> int:
    """``path`` truncated (or, with ``append``, appended to) or created for writing
    a log, never through a link (``ELOOP``) nor into a FIFO or device planted
    there; returns the fd."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0)
                 | (os.O_APPEND if append else 0)
                 | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0), 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, 'not a regular file', path)
        if not append:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def process_is_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (it may be another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(directory: str, name: str) -> bool:
    match = _TMP_PATTERN.match(name)
    if match:
        return match['host'] == _HOST and not process_is_alive(int(match['pid']))
    match = _OLD_TMP_PATTERN.match(name)
    if not match or process_is_alive(int(match['pid'])):
        return False
    try:
        age = time.time() - os.lstat(osp.join(directory, name)).st_mtime
    except FileNotFoundError:
        return False
    return age >= OLD_TEMPORARY_MIN_AGE_S


def remove_stale_temporaries(directories: Iterable[str]) -> List[str]:
    """Delete temporary files left by killed writers on this host; returns them.

    Only regular files (never a link) whose writer, named in the file name,
    no longer runs on this host.
    """
    removed = []
    for directory in dict.fromkeys(d for d in directories if d and osp.isdir(d)):
        for name in os.listdir(directory):
            path = osp.join(directory, name)
            try:
                regular = stat.S_ISREG(os.lstat(path).st_mode)
            except FileNotFoundError:
                continue
            if regular and _is_stale(directory, name):
                _remove_quietly(path)
                removed.append(path)
    return removed
