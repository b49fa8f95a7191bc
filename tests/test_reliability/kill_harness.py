"""SIGKILL a toy training process at chosen moments of its checkpoint saves.

The child is forked from the test process (everything already imported, so a
trial takes a fraction of a second) and trains a toy model whose checkpoints
are ~1 MB, saved every iteration. Two ways to pick the moment:

* ``delay``: the parent kills the child that many seconds after training
  started. Writes are slowed down (16 chunks with a short sleep) so that
  most random moments fall inside a save, where real kills hurt.
* ``kill_before``: the child kills itself right before its N-th call of
  ``os.fsync``/``os.replace``/``os.remove`` -- every step of the save
  protocol in turn, deterministically.

Shared memory tells the parent which checkpoint save had started and which
had finished when the child died, so the test can check that no more than
one checkpoint interval was lost.
"""
from __future__ import annotations

import glob
import multiprocessing as mp
import os
import os.path as osp
import signal
import time
from dataclasses import dataclass, field
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.fileio.backends import local_backend
from mmengine.hooks import Hook

from mmscratch.apis.train import NothingToResume, apply_resume
from mmscratch.utils import atomic_io
from mmscratch.testing.runners import toy_runner

INTERVAL = 1
BALLAST = 1 << 18  # 1 MB of float32 in every checkpoint
PATCHED_OPS = ('fsync', 'replace', 'remove')


class _Progress(Hook):
    """Records in shared memory the save that started / finished (iteration)."""

    def __init__(self, slot, index, priority, ready=None):
        self.slot, self.index, self.priority, self.ready = slot, index, priority, ready

    def before_train(self, runner):
        if self.ready is not None:
            self.ready.set()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.slot[self.index] = runner.iter + 1


def _slow_write_all(fd, data):
    """atomic_io.write_all in 16 chunks with a pause between them."""
    step = max(1, len(data) // 16)
    for start in range(0, len(data), step):
        os.write(fd, data[start:start + step])
        time.sleep(0.002)


def _slow_put(obj, filepath):
    """LocalBackend.put (MMEngine's CheckpointHook) in 16 chunks, flushed, with pauses."""
    os.makedirs(osp.dirname(filepath), exist_ok=True)
    step = max(1, len(obj) // 16)
    with open(filepath, 'wb') as f:
        for start in range(0, len(obj), step):
            f.write(obj[start:start + step])
            f.flush()
            time.sleep(0.002)


def _install_kill_point(n: int) -> None:
    calls = [0]
    for name in PATCHED_OPS:
        original = getattr(os, name)

        def patched(*args, _original=original, **kwargs):
            calls[0] += 1
            if calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return _original(*args, **kwargs)

        setattr(os, name, patched)


def _child(work_dir, checkpoint_type, max_keep, progress, ready, kill_before, max_iters):
    torch.set_num_threads(1)  # forked from a process that may have used OpenMP
    local_backend.LocalBackend.put = lambda self, obj, filepath: _slow_put(obj, filepath)
    atomic_io.write_all = _slow_write_all  # SafeCheckpointHook's writes
    if kill_before is not None:
        _install_kill_point(kill_before)
    runner = toy_runner(
        work_dir, max_iters, ballast=BALLAST,
        checkpoint=dict(type=checkpoint_type, interval=INTERVAL, max_keep_ckpts=max_keep),
        custom_hooks=[_Progress(progress, 0, 89, ready),  # just before the checkpoint hook
                      _Progress(progress, 1, 'LOWEST')])  # just after it
    runner.train()


@dataclass
class Trial:
    work_dir: str
    started: int  # last save that had begun when the process died
    finished: int  # last save that had completed
    exitcode: Optional[int]
    violations: List[str] = field(default_factory=list)
    resumed_from: Optional[int] = None
    partial_files: List[str] = field(default_factory=list)


def run_trial(work_dir, *, delay: Optional[float] = None, kill_before: Optional[int] = None,
              checkpoint_type: str = 'SafeCheckpointHook', max_keep: int = 1,
              max_iters: int = 1000) -> Trial:
    ctx = mp.get_context('fork')
    progress = ctx.Array('q', [0, 0], lock=False)
    ready = ctx.Event()
    proc = ctx.Process(target=_child, args=(str(work_dir), checkpoint_type, max_keep,
                                            progress, ready, kill_before, max_iters))
    proc.start()
    if delay is not None:
        if not ready.wait(60):
            proc.kill()
            raise RuntimeError('the training child did not start')
        time.sleep(delay)
        proc.kill()
    proc.join(60)
    if proc.exitcode is None:
        proc.kill()
        raise RuntimeError('the training child hung')
    trial = Trial(str(work_dir), int(progress[0]), int(progress[1]), proc.exitcode)
    trial.partial_files = sorted(glob.glob(osp.join(work_dir, '.*.tmp')))
    return trial


def check_recovery(trial: Trial, resume_iters: int = 2) -> Trial:
    """What ``--resume`` finds after the kill, and whether training goes on."""
    cfg = Config(dict(work_dir=trial.work_dir))
    try:
        apply_resume(cfg, 'auto', allow_fresh_start=False)
    except NothingToResume as exc:
        if trial.finished >= INTERVAL:
            trial.violations.append(f'a checkpoint was completed, yet: {exc}')
        return trial
    try:
        ckpt = torch.load(cfg.load_from, map_location='cpu')  # weights_only (safe) load
    except Exception as exc:
        trial.violations.append(f'last_checkpoint names an unloadable file: {exc!r}')
        return trial
    trial.resumed_from = int(ckpt['meta']['iter'])
    if trial.resumed_from < trial.finished or trial.resumed_from < trial.started - INTERVAL:
        trial.violations.append(
            f'resumes from {trial.resumed_from}, but save {trial.finished} had completed '
            f'and {trial.started} had begun: more than one interval lost')
    for path in glob.glob(osp.join(trial.work_dir, 'iter_*.pth')):
        try:
            torch.load(path, map_location='cpu')
        except Exception as exc:
            trial.violations.append(f'{osp.basename(path)} is not loadable: {exc!r}')
    target = trial.resumed_from + resume_iters
    runner = toy_runner(trial.work_dir, target, ballast=BALLAST, resume=True,
                        load_from=cfg.load_from,
                        checkpoint=dict(interval=INTERVAL, max_keep_ckpts=1))
    runner.train()
    if runner.iter != target:
        trial.violations.append(f'resumed run ended at {runner.iter}, not {target}')
    left = glob.glob(osp.join(trial.work_dir, '.*.tmp'))
    if left:
        trial.violations.append(f'partial files not cleaned up on resume: {left}')
    return trial
