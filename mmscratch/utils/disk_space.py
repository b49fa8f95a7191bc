"""Disk space for checkpoints: what the next save and the kept checkpoints need.

Pure functions behind ``SafeCheckpointHook``'s warnings and its error on a
failed save. A checkpoint is written whole to a temporary file before the
oldest one is deleted, so a run that keeps ``K`` checkpoints of ``S`` bytes
holds ``K + 1`` of them for a moment at every save: it needs ``(K + 1) * S``
bytes on the file system, counting the checkpoints of the run already there.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Iterable, Optional


def free_bytes(path: str) -> Optional[int]:
    """Bytes an unprivileged process may still write under ``path``, or None."""
    try:
        stats = os.statvfs(path)
    except (OSError, AttributeError):  # gone, or no statvfs on this platform
        return None
    return stats.f_bavail * stats.f_frsize


def format_bytes(n: Optional[float]) -> str:
    """``n`` bytes for people: ``512 B``, ``3.4 MiB``, ``1.25 GiB``."""
    if n is None:
        return 'an unknown amount'
    value = float(n)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(value) < 1024 or unit == 'TiB':
            return f'{int(value)} B' if unit == 'B' else f'{value:.3g} {unit}'
        value /= 1024
    raise AssertionError('unreachable')


@dataclass(frozen=True)
class SpacePlan:
    """How the run's checkpoints fit on the file system of ``directory``.

    Attributes:
        checkpoint_bytes: size of one checkpoint (the last one, or an estimate).
        max_keep: checkpoints kept (``max_keep_ckpts``; <= 0: all).
        kept_bytes: bytes of the run's kept checkpoints already on disk.
        free: free bytes now.
    """

    directory: str
    checkpoint_bytes: int
    max_keep: int
    kept_bytes: int
    free: int

    @property
    def needed_for_next_save(self) -> int:
        return self.checkpoint_bytes

    @property
    def needed_to_keep_all(self) -> Optional[int]:
        """Free bytes the run needs from now on (None: it keeps every checkpoint)."""
        if self.max_keep <= 0:
            return None
        return max(0, (self.max_keep + 1) * self.checkpoint_bytes - self.kept_bytes)

    @property
    def saves_that_fit(self) -> int:
        """Saves that succeed from now on, if no other file grows."""
        return self.free // max(1, self.checkpoint_bytes)

    def problem(self, upcoming_saves: Optional[Iterable[int]] = None) -> Optional[str]:
        """A warning when the run will run out of space, else None.

        ``upcoming_saves``: the iterations of the run's next saves, in order
        (all of them up to the end of the run). With them the failing save is
        named by its iteration, and a save the run never reaches is no reason
        to warn.
        """
        upcoming = list(itertools.islice(upcoming_saves, self.saves_that_fit + 1)) \
            if upcoming_saves is not None else None
        size = format_bytes(self.checkpoint_bytes)
        where = f'{self.directory} has {format_bytes(self.free)} free'
        if self.free < self.needed_for_next_save:
            if upcoming is not None and not upcoming:
                return None
            when = f' (iteration {upcoming[0]})' if upcoming else ''
            return (f'{where}, the next checkpoint{when} needs about {size}: that save will '
                    'fail. Free space or move the work dir, then --resume')
        need = self.needed_to_keep_all
        if need is not None and self.free < need:
            fits = self.saves_that_fit
            when = ''
            if upcoming is not None:
                if len(upcoming) <= fits:
                    return None  # the run ends before
                when = f' (iteration {upcoming[fits]})'
            return (f'{where}; keeping {self.max_keep} checkpoint(s) of about {size} needs '
                    f'{format_bytes(need)} more (one extra checkpoint is written before the '
                    f'oldest is deleted): save {fits + 1} from now{when} will fail. Free '
                    'space, lower max_keep_ckpts or move the work dir')
        return None


def save_failure_message(path: str, error: OSError, needed: Optional[int],
                         free: Optional[int], last_good: Optional[str]) -> str:
    """One line for a checkpoint that could not be written."""
    reason = error.strerror or str(error) or type(error).__name__
    if error.errno:
        reason += f' (errno {error.errno})'
    resume = (f'the last good checkpoint is {last_good}: free space or fix the file system, '
              'then run again with --resume' if last_good else
              'no checkpoint was saved before: fix the file system and run again')
    return (f'could not save checkpoint {path}: {reason}; {format_bytes(needed)} needed, '
            f'{format_bytes(free)} free on {os.path.dirname(path) or "."}; the partial file '
            f'was removed; {resume}')


#: Optimizer state tensors kept per parameter (SGD: the momentum buffer; the
#: Adam family: two moments). Unknown optimizers count as two.
_STATE_PER_PARAM = {'SGD': 1, 'Adam': 2, 'AdamW': 2, 'Adamax': 2, 'NAdam': 2, 'RAdam': 2,
                    'Adagrad': 1, 'Adadelta': 2, 'RMSprop': 1, 'Lion': 1}


def estimate_checkpoint_bytes(model, optimizers=()) -> int:
    """A checkpoint's size before the first one exists: the model's state plus
    the optimizer state it will have after the first step."""
    import torch
    seen, model_bytes, param_bytes = set(), 0, 0
    for value in model.state_dict(keep_vars=True).values():
        if not isinstance(value, torch.Tensor):
            continue
        key = (value.data_ptr(), value.numel(), value.dtype)
        if key in seen:
            continue
        seen.add(key)
        size = value.numel() * value.element_size()
        model_bytes += size
        if isinstance(value, torch.nn.Parameter) and value.requires_grad:
            param_bytes += size
    extra = 0
    for optimizer in optimizers:
        name = type(optimizer).__name__
        per_param = _STATE_PER_PARAM.get(name, 2)
        if name == 'SGD' and not any(g.get('momentum', 0) for g in optimizer.param_groups):
            per_param = 0
        extra = max(extra, per_param)
    return model_bytes + extra * param_bytes
