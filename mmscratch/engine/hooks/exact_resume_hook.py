"""``ExactResumeHook``: a resumed run continues bit for bit as if never stopped.

MMEngine's resume restores the weights, optimizer (with the AMP loss scaler),
parameter schedulers, message hub and iteration count, and replays the
dataloader up to the resumed iteration so the sampler is at the same position
and dataloader workers, re-seeded as at the start, have consumed their random
streams exactly as before. What it does not restore are the random number
generators of the main process: they restart from the seed, so every random
draw after a resume (RPN/RoI sampling, and with ``num_workers=0`` the data
augmentation) differs from the run that never stopped. This hook adds them.

When it runs:

* ``after_train_iter`` / ``after_train_epoch``: snapshots the RNG states of
  the main process (python ``random``, numpy, torch CPU and CUDA); in
  distributed runs, on iterations where a checkpoint is due, gathers every
  rank's snapshot (only rank 0 writes checkpoints). Its priority puts it after
  all other hooks but the checkpoint hook, i.e. the snapshot is the state the
  next iteration starts from.
* ``before_save_checkpoint``: stores the snapshot under ``exact_resume``.
* ``after_load_checkpoint`` / ``before_train``: keeps the states of the
  checkpoint resumed from (not of ``load_from`` weights starting at 0), and
  warns when the resume cannot be exact.
* ``before_train_epoch`` (iteration-based loops): wraps the loop's dataloader
  iterator so the states are restored after MMEngine's replay of the
  dataloader and before the first new batch is fetched: data fetching itself
  draws random numbers (augmentation with ``num_workers=0``, the worker base
  seed at an epoch boundary), so no hook point is late or early enough.
  Epoch-based loops are restored at the first ``before_train_epoch``.
* ``before_val`` / ``after_val``: saves and restores the RNG states around
  validation, so evaluating (at the loop's interval, or at the extra points of
  ``ConvergenceCurveHook``) never changes the training that follows; without
  this a resume could not reproduce an evaluation that happened between the
  checkpoint and the crash.

What it changes: the global RNG states at the start of a resumed run (and
around validation); nothing else.

Needs a fixed ``randomness.seed`` (worker seeds derive from it) and, on GPU,
``deterministic=True`` for bit-identical results; it warns otherwise.
"""
from __future__ import annotations

import random
from typing import Callable, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ...utils.checkpoint_schedule import epoch_checkpoint_due, iter_checkpoint_due

CHECKPOINT_KEY = 'exact_resume'


def capture_rng_state() -> dict:
    """RNG states of this process, as types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=dict(kind=str(kind), keys=torch.from_numpy(keys.astype(np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    python = state['python']
    # setstate wants the inner state as a tuple; accept a list as well
    random.setstate((python[0], tuple(python[1]), python[2]))
    np_state = state['numpy']
    np.random.set_state((np_state['kind'], np_state['keys'].numpy().astype(np.uint32),
                         np_state['pos'], np_state['has_gauss'],
                         np_state['cached_gaussian']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state['cuda']]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


class _RestoreAfterReplay:
    """Stands in for the loop's dataloader iterator during a resume.

    It passes the first ``replay`` batches through (MMEngine's replay of the
    iterations already trained), then restores the RNG states, puts the real
    iterator back into the loop and fetches the first new batch.
    """

    def __init__(self, loop, inner, replay: int, restore: Callable[[], None]):
        self._loop = loop
        self._inner = inner
        self._replay = replay
        self._served = 0
        self._restore = restore

    def __iter__(self):
        return self

    def __next__(self):
        if self._served >= self._replay:
            self._restore()
            self._loop.dataloader_iterator = self._inner
            return next(self._inner)
        self._served += 1
        return next(self._inner)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Save RNG states in checkpoints and restore them at the exact point on resume.

    Args:
        strict: raise instead of warning when the resumed checkpoint cannot
            give an exact resume (no RNG states, different number of
            processes or dataloader workers).
    """

    # After every other hook (LOW = 70) in after_train_iter, before the
    # checkpoint hook (VERY_LOW = 90): the snapshot is taken last.
    priority = 85

    def __init__(self, strict: bool = False):
        self.strict = strict
        self._snapshot: Optional[dict] = None
        self._snapshot_step: Optional[int] = None
        self._gathered: Optional[List[dict]] = None
        self._loaded: Optional[dict] = None
        self._to_restore: Optional[dict] = None
        self._val_stack: List[dict] = []

    # ----------------------------------------------------------- checkpoints
    def _world_info(self, runner) -> dict:
        loader = runner.train_dataloader
        return dict(world_size=get_world_size(),
                    num_workers=int(getattr(loader, 'num_workers', 0) or 0))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        step = checkpoint.get('meta', {}).get('iter')
        if self._snapshot is not None and self._snapshot_step == step:
            states = self._gathered or [self._snapshot]
        else:
            # A save outside the train loop's schedule (e.g. by another hook):
            # the current state is the best there is, and only this rank's.
            states = [capture_rng_state()]
        checkpoint[CHECKPOINT_KEY] = dict(rng=states, **self._world_info(runner))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Also called for ``load_from`` without resume (fine-tuning from
        # iteration 0): only before_train knows which it was.
        self._loaded = dict(
            saved=checkpoint.get(CHECKPOINT_KEY),
            complete='optimizer' in checkpoint and 'param_schedulers' in checkpoint)

    # ------------------------------------------------------------- restoring
    def before_train(self, runner) -> None:
        # MMEngine draws a seed when none is configured, builds the workers'
        # seeds from it, and on resume re-seeds with the checkpoint's one:
        # the workers then see other random streams than before the crash.
        randomness = (runner.cfg.get('randomness') if runner.cfg else None) or \
            getattr(runner, '_randomness_cfg', None) or {}
        if randomness.get('seed') is None:
            self._report(runner, 'randomness.seed is not set: worker seeds differ '
                         'between runs, so no resume can be exact')
        loaded, self._loaded = self._loaded, None
        if loaded is None or runner.iter == 0:
            return  # a fresh run (possibly from load_from weights): nothing to restore
        saved, problems = loaded['saved'], []
        if saved is None:
            problems.append('the checkpoint has no RNG states (not saved with ExactResumeHook)')
        else:
            now = self._world_info(runner)
            for key in ('world_size', 'num_workers'):
                if saved.get(key) != now[key]:
                    problems.append(f'{key} was {saved.get(key)} and is now {now[key]}')
        if not loaded['complete']:
            problems.append('the checkpoint has no optimizer or scheduler state')
        if problems:
            self._report(runner, 'resume will not be exact: ' + '; '.join(problems))
        if saved is not None:
            states = saved['rng']
            self._to_restore = states[get_rank()] if get_rank() < len(states) else states[0]

    def before_train_epoch(self, runner) -> None:
        if self._to_restore is None:
            return
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):
            loop.dataloader_iterator = _RestoreAfterReplay(
                loop, loop.dataloader_iterator, loop.iter, self._restore_now)
        else:
            self._restore_now()

    def _restore_now(self) -> None:
        if self._to_restore is not None:
            restore_rng_state(self._to_restore)
            self._to_restore = None

    # --------------------------------------------------------------- capture
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._capture(runner, runner.iter + 1, self._iter_checkpoint_due(runner))

    def after_train_epoch(self, runner) -> None:
        self._capture(runner, runner.iter, self._epoch_checkpoint_due(runner))

    def _capture(self, runner, step: int, checkpoint_due: bool) -> None:
        self._snapshot = capture_rng_state()
        self._snapshot_step = step
        self._gathered = None
        if checkpoint_due and get_world_size() > 1:
            # collective: every rank reaches here on the same iterations
            self._gathered = all_gather_object(self._snapshot)

    @staticmethod
    def _iter_checkpoint_due(runner) -> bool:
        return iter_checkpoint_due(runner)

    @staticmethod
    def _epoch_checkpoint_due(runner) -> bool:
        return epoch_checkpoint_due(runner)

    # ------------------------------------------------------------ validation
    def before_val(self, runner) -> None:
        self._val_stack.append(capture_rng_state())

    def after_val(self, runner) -> None:
        if self._val_stack:
            restore_rng_state(self._val_stack.pop())

    # ----------------------------------------------------------------- misc
    def _report(self, runner, message: str) -> None:
        if self.strict:
            raise RuntimeError(f'ExactResumeHook: {message}')
        runner.logger.warning(f'ExactResumeHook: {message}')
