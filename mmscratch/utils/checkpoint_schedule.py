"""When the runner's checkpoint hooks will save, asked ahead of time.

``Runner.save_checkpoint`` is master-only: ``before_save_checkpoint`` hooks run
on rank 0 alone, so a hook that needs a collective (all-reduce, all-gather)
for the checkpoint must do it earlier, in ``after_train_iter`` on every rank,
on exactly the iterations a checkpoint hook will save at. These functions use
MMEngine's own ``CheckpointHook`` predicates, so they agree with it.
"""
import weakref

from mmengine.hooks import CheckpointHook

#: runner -> iteration (1-based) at whose end a save outside the checkpoint
#: hooks' schedule was agreed on (``PreemptionHook``).
_REQUESTED = weakref.WeakKeyDictionary()


def request_iter_checkpoint(runner, iteration: int) -> None:
    """Announce a save at the end of ``iteration`` (1-based) to the hooks that
    gather state for checkpoints, so they do it on that iteration too. Every
    rank must call it for the same iteration."""
    _REQUESTED[runner] = iteration


def checkpoint_hooks(runner):
    return [h for h in runner.hooks if isinstance(h, CheckpointHook)]


def iter_checkpoint_due(runner) -> bool:
    """Whether a checkpoint is saved at the end of the current iteration."""
    if _REQUESTED.get(runner) == runner.iter + 1:
        return True
    return any(
        not h.by_epoch and (h.every_n_train_iters(runner, h.interval, h.save_begin)
                            or (h.save_last and h.is_last_train_iter(runner)))
        for h in checkpoint_hooks(runner))


def epoch_checkpoint_due(runner) -> bool:
    """Whether a checkpoint is saved at the end of the current epoch."""
    return any(
        h.by_epoch and (h.every_n_epochs(runner, h.interval, h.save_begin)
                        or (h.save_last and h.is_last_train_epoch(runner)))
        for h in checkpoint_hooks(runner))
