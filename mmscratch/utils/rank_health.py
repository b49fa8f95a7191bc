"""Which rank stopped answering, when a collective fails.

A collective that times out says only that *this* rank waited (gloo: "Timed
out waiting 600000ms for recv operation to complete"); a peer that died
shows up as "Connection closed by peer [10.0.0.7]:41873". Neither names the
rank to look at. So every rank leaves a small record of its progress in the
process group's key-value store (hosted by torchrun's agent, or by rank 0
with ``--launcher slurm``; torchrun gives each restart its own key prefix):

* ``RankHeartbeatHook`` writes ``progress/<rank>`` (iteration, phase, host,
  pid, time) as training goes;
* a rank whose training fails writes ``failed/<rank>`` (its error, whether
  it was a collective that failed) on the way out;
* the rank that catches a failed collective waits a few seconds for the
  others' ``failed/`` records, then names the ranks that never wrote one:
  those stopped answering (hung, stopped, or killed without a word).

Everything read from the store is parsed as size-limited JSON and only known
fields of the expected types are used.
"""
from __future__ import annotations

import datetime
import json
import os
import socket
import time
from typing import Dict, List, Optional

KEY_PREFIX = 'mmscratch/rank_health/'
_MAX_RECORD_BYTES = 4096
_PHASES = ('train', 'val', 'save', 'done')
#: Text in errors of a collective: gloo's (transport) and NCCL's.
_COLLECTIVE_MARKERS = ('gloo/transport', 'Connection closed by peer', 'Connection reset by peer',
                       'Timed out waiting', 'NCCL', 'ProcessGroup', 'c10d')


class CollectiveFailure(RuntimeError):
    """A collective failed: a rank stopped answering, died, or failed first."""


def _printable(text, limit: int) -> str:
    return ''.join(c if ' ' <= c <= '~' else '?' for c in str(text)[:limit])


def first_line(exc: BaseException, limit: int = 240) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return _printable(lines[0] if lines else type(exc).__name__, limit)


def default_store():
    """The default process group's store, or None (no group, or a torch without it)."""
    try:
        import torch.distributed as dist
        if not dist.is_available() or not dist.is_initialized():
            return None
        from torch.distributed.distributed_c10d import _get_default_store
        return _get_default_store()
    except Exception:
        return None


def is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a collective or the process group (gloo, NCCL, store)."""
    try:
        import torch.distributed as dist
        dist_error = getattr(dist, 'DistError', None)
        if dist_error is not None and isinstance(exc, dist_error):
            return True
    except ImportError:
        pass
    if not isinstance(exc, RuntimeError) or isinstance(exc, CollectiveFailure):
        return False
    text = str(exc)
    return any(marker in text for marker in _COLLECTIVE_MARKERS)


def _set(store, key: str, record: dict) -> None:
    store.set(KEY_PREFIX + key, json.dumps(record)[:_MAX_RECORD_BYTES])


def post_progress(store, rank: int, iteration: int, phase: str) -> None:
    _set(store, f'progress/{rank}', dict(iter=int(iteration), phase=phase, time=time.time(),
                                         host=socket.gethostname()[:64], pid=os.getpid()))


def post_failure(store, rank: int, exc: BaseException, iteration: Optional[int]) -> None:
    _set(store, f'failed/{rank}', dict(
        error=first_line(exc), collective=is_collective_failure(exc), time=time.time(),
        iter=iteration, host=socket.gethostname()[:64], pid=os.getpid()))


def _read(store, key: str) -> Optional[dict]:
    """One record, or None if missing or malformed."""
    try:
        if not store.check([KEY_PREFIX + key]):
            return None
        raw = store.get(KEY_PREFIX + key)
    except Exception:
        return None
    if len(raw) > _MAX_RECORD_BYTES:
        return None
    try:
        record = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    clean = {}
    for key, kind in (('iter', int), ('pid', int), ('time', (int, float)),
                      ('collective', bool), ('phase', str), ('host', str), ('error', str)):
        value = record.get(key)
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            clean[key] = value
    if 'phase' in clean and clean['phase'] not in _PHASES:
        del clean['phase']
    return clean


def read_records(store, world_size: int, kind: str) -> Dict[int, dict]:
    records = {}
    for rank in range(world_size):
        record = _read(store, f'{kind}/{rank}')
        if record is not None:
            records[rank] = record
    return records


def _describe(rank: int, progress: Optional[dict], now: float) -> str:
    if not progress:
        return f'rank {rank} (no progress recorded)'
    where = []
    if 'host' in progress:
        where.append(f'host {_printable(progress["host"], 64)}')
    if 'pid' in progress:
        where.append(f'pid {progress["pid"]}')
    last = ''
    if 'iter' in progress:
        phase = {'train': 'training', 'val': 'validating', 'save': 'saving a checkpoint',
                 'done': 'finished'}.get(progress.get('phase', ''), 'at')
        ago = f', {now - progress["time"]:.0f} s ago' if 'time' in progress else ''
        last = f'; last recorded {phase} iteration {progress["iter"]}{ago}'
    return f'rank {rank} ({", ".join(where) or "unknown host"}{last})'


def diagnose(exc: BaseException, rank: int, world_size: int, iteration: Optional[int],
             timeout_s: Optional[float], store=None, grace_s: float = 5.0) -> str:
    """The one-line explanation of a failed collective on ``rank``.

    Posts this rank's failure, waits up to ``grace_s`` for every other rank's,
    then names the ranks that never reported (they stopped answering) and
    the first rank that failed for a reason of its own.
    """
    store = store if store is not None else default_store()
    at = f' at iteration {iteration}' if iteration is not None else ''
    waited = f' (timeout {timeout_s:g} s, env_cfg.dist_cfg.timeout)' if timeout_s else ''
    head = f'rank {rank}: a collective failed{at}{waited}: {first_line(exc)}'
    if store is None:
        return head
    try:
        try:
            store.set_timeout(datetime.timedelta(seconds=max(1.0, grace_s)))
        except Exception:
            pass
        post_failure(store, rank, exc, iteration)
        deadline = time.time() + grace_s
        failed = read_records(store, world_size, 'failed')
        while len(failed) < world_size and time.time() < deadline:
            time.sleep(0.2)
            failed = read_records(store, world_size, 'failed')
        progress = read_records(store, world_size, 'progress')
    except Exception as store_error:  # the store is gone too (with --launcher slurm it is rank 0's)
        return (f'{head}; the job\'s key-value store does not answer either '
                f'({first_line(store_error, 120)}): with --launcher slurm it lives in rank 0, '
                'so rank 0 is the first to check')
    now = time.time()
    silent = [r for r in range(world_size) if r not in failed]
    own = sorted((r for r, rec in failed.items() if not rec.get('collective', True)),
                 key=lambda r: failed[r].get('time', now))
    parts: List[str] = []
    if own:
        first = own[0]
        parts.append(f'rank {first} failed first: '
                     f'{_printable(failed[first].get("error", "an error"), 240)}')
    if silent:
        gone = 'Connection closed' in str(exc) or 'Connection reset' in str(exc)
        how = ('died or was killed (its connection closed)' if gone else
               'stopped answering (hung, stopped or killed)')
        names = '; '.join(_describe(r, progress.get(r), now) for r in silent[:8])
        more = f' and {len(silent) - 8} more' if len(silent) > 8 else ''
        parts.append(f'{"rank" if len(silent) == 1 else "ranks"} '
                     f'{", ".join(map(str, silent[:8]))}{more} {how}: {names}{more}')
    if not parts:
        parts.append('every rank reported the same failure: the network or the store may be '
                     'at fault')
    return f'{head}; ' + '; '.join(parts)
