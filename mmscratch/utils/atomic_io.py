"""Atomic file writes: readers see the old file or the new one, never a part.

Write to a hidden temporary name, fsync, rename over the target, fsync the
directory. Used for checkpoints (``SafeCheckpointHook``), ``last_checkpoint``
and the convergence curve.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from typing import Iterable, List

# ".<final name>.<pid>.tmp": hidden, and not ending in .pth, so no tool that
# globs for checkpoints ever picks a half-written file.
_TMP_PATTERN = re.compile(r'^\..+\.\d+\.tmp$')


def temporary_path(path: str) -> str:
    """The temporary name :func:`atomic_write_bytes` and the hook write to."""
    directory, name = osp.split(path)
    return osp.join(directory, f'.{name}.{os.getpid()}.tmp')


def fsync_file(path: str) -> None:
    """Flush a closed file's data to disk (Linux fsyncs the inode via any fd)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def commit_file(tmp_path: str, final_path: str) -> None:
    """fsync ``tmp_path``, rename it over ``final_path`` atomically, fsync the dir."""
    fsync_file(tmp_path)
    os.replace(tmp_path, final_path)
    fsync_dir(osp.dirname(final_path))


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a part."""
    tmp = temporary_path(path)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(osp.dirname(path))


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode('utf-8'))


def remove_stale_temporaries(directories: Iterable[str]) -> List[str]:
    """Delete temporary files left by saves that were killed; returns them."""
    removed = []
    for directory in dict.fromkeys(d for d in directories if d and osp.isdir(d)):
        for name in os.listdir(directory):
            path = osp.join(directory, name)
            if _TMP_PATTERN.match(name) and osp.isfile(path):
                os.remove(path)
                removed.append(path)
    return removed


