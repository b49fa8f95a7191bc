"""``PreemptionHook``: a pre-emption signal saves the current iteration, then the run exits.

Slurm, Kubernetes, ``scancel`` and torchrun send SIGTERM (Slurm's
``--signal`` a chosen signal, SIGUSR1 here) some time before they kill a job.
Without this hook the process dies at once and everything since the last
checkpoint is lost: up to a whole checkpoint interval (10k iterations, about
an hour of 8 GPUs, in the paper's configs).

When it runs and what it changes:

* construction (the Runner builds its hooks before it forks dataloader
  workers): handlers for ``signals`` (default SIGTERM and SIGUSR1) are
  installed that only *record* the signal. Forked dataloader workers keep
  them (PyTorch's own SIGTERM handler of workers is put aside) and ignore
  the signal, so a signal sent to the whole process group (torchrun's
  shutdown, Slurm) does not kill them mid-batch; their parent ends them.
  Workers started with the ``spawn`` method do not inherit handlers: keep
  MMEngine's default ``mp_start_method='fork'``.
* ``before_train_iter`` (every rank, every iteration): one all-reduce (max)
  of "a signal arrived here", so all ranks agree and no rank saves alone.
  A signal that arrives during iteration ``k`` is acted on at iteration
  ``k + 1``: the hooks that gather state for checkpoints are told a save is
  due at its end (``request_iter_checkpoint``).
* ``after_train_iter`` of that iteration (priority ``LOWEST``: after the
  checkpoint hook and every other hook): the config's checkpoint hook saves
  the iteration (``SafeCheckpointHook``: the crash-safe path), unless it just
  did; all ranks agree on the outcome; the hook logs it and raises
  :class:`Preempted`: ``tools/train.py`` exits with :data:`PREEMPTED_EXIT_CODE`
  (75, ``EX_TEMPFAIL``: "stopped for now, every finished iteration is saved,
  run again with ``--resume``").

A second signal during the save is recorded and changes nothing; only a
SIGKILL stops the save, and then the crash-safe write order keeps the
previous checkpoint. When the agreement itself fails (a peer is gone, as when
torchrun stops the survivors of a crashed worker), the hook does not save and
the process exits with ``128 + signal`` (143 for SIGTERM), naming the
checkpoint a restart continues from. Epoch-based loops cannot resume in the
middle of an epoch: there the hook exits the same way without a save.

Under ``tools/dist_train.sh``, local rank 0 of each node also writes a small
record (``MMSCRATCH_PREEMPTION_RECORD``, set by the launcher) so that the
launcher itself can exit 75 (torchrun reports 1 whatever its workers return).
"""
from __future__ import annotations

import atexit
import json
import logging
import mmap
import os
import os.path as osp
import signal
import threading
import time
from typing import List, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmdet.registry import HOOKS

from ...utils.atomic_io import atomic_write_text
from ...utils.checkpoint_schedule import request_iter_checkpoint
from ...utils.run_files import read_last_checkpoint

#: Exit status of a run stopped by a pre-emption signal after saving its
#: current iteration (sysexits.h ``EX_TEMPFAIL``): resume it.
PREEMPTED_EXIT_CODE = 75
DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1')
#: Environment variable naming the file in which local rank 0 records a
#: pre-emption save for the launcher (``tools/dist_launch.py``).
RECORD_ENV = 'MMSCRATCH_PREEMPTION_RECORD'


class Preempted(Exception):
    """The run stopped on a pre-emption signal (raised out of ``runner.train()``).

    Attributes:
        saved: whether the current iteration was saved.
        exit_code: what the process should exit with.
        checkpoint: the checkpoint to resume from (None: none yet).
    """

    def __init__(self, message: str, saved: bool, exit_code: int,
                 checkpoint: Optional[str]):
        super().__init__(message)
        self.saved = saved
        self.exit_code = exit_code
        self.checkpoint = checkpoint


# --------------------------------------------------------------------------
# Signal handling (process-wide, like the signals themselves)
# --------------------------------------------------------------------------
class _SignalState:
    """What the installed handlers recorded in this process.

    Dataloader workers forked from this process inherit the handler, which
    ignores the signal there while the parent trains: their parent ends them.
    PyTorch's workers replace the SIGTERM handler with their own (exit when
    the parent sends it, die otherwise) in ``_set_worker_signal_handlers``;
    while installed, that function is wrapped so that a worker puts this
    handler back afterwards. Once the parent is done with training (or
    exits), a byte of memory shared with the workers says so, and the
    workers obey the signal again (exit 0, as PyTorch's handler): the
    ``terminate()`` with which multiprocessing ends them at exit works.
    """

    def __init__(self):
        self.owner_pid: Optional[int] = None
        self.previous: dict = {}
        self.received: List[int] = []
        self._worker_setup = None  # PyTorch's original, while wrapped
        self._released = None  # shared byte: 1 when forked workers may exit on a signal

    def handler(self, signum, frame) -> None:
        if os.getpid() != self.owner_pid:  # a forked dataloader worker
            if self._released is not None and self._released[0]:
                os._exit(0)
            return  # its parent decides when it ends
        self.received.append(signum)

    def install(self, signums: Sequence[int]) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        if self.owner_pid != os.getpid():  # first install in this process
            self.owner_pid, self.previous, self.received = os.getpid(), {}, []
            self._released = mmap.mmap(-1, 1)  # anonymous, shared with forked children
            atexit.register(self.release_workers)
        self._released[0] = 0
        for signum in signums:
            if signum not in self.previous:
                self.previous[signum] = signal.signal(signum, self.handler)
        self._wrap_worker_setup()
        return True

    def release_workers(self) -> None:
        """Let forked workers exit on a signal again (at exit, after training)."""
        if self._released is not None and self.owner_pid == os.getpid():
            self._released[0] = 1

    def _wrap_worker_setup(self) -> None:
        from torch.utils.data._utils import signal_handling
        original = getattr(signal_handling, '_set_worker_signal_handlers', None)
        if original is None or self._worker_setup is not None:
            return
        state = self

        def set_worker_signal_handlers(*args, **kwargs):
            original(*args, **kwargs)
            for signum in list(state.previous):
                signal.signal(signum, state.handler)

        self._worker_setup = original
        signal_handling._set_worker_signal_handlers = set_worker_signal_handlers

    def uninstall(self) -> None:
        """Put the previous handlers back; what was recorded is kept."""
        if threading.current_thread() is not threading.main_thread() or \
                self.owner_pid != os.getpid():
            return
        self.release_workers()
        for signum, previous in self.previous.items():
            if signal.getsignal(signum) == self.handler:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self.previous = {}
        if self._worker_setup is not None:
            from torch.utils.data._utils import signal_handling
            signal_handling._set_worker_signal_handlers = self._worker_setup
            self._worker_setup = None

    def reset(self) -> None:
        """Forget recorded signals (tests; a new run in the same process)."""
        self.received = []


SIGNALS = _SignalState()


def _signal_numbers(names: Sequence) -> List[int]:
    numbers = []
    for name in names:
        if isinstance(name, int) and not isinstance(name, bool):
            number = name
        elif isinstance(name, str) and name.upper().startswith('SIG') and \
                isinstance(getattr(signal, name.upper(), None), int):
            number = int(getattr(signal, name.upper()))
        else:
            raise ValueError(f'PreemptionHook: signals: {name!r:.40} is not a signal name '
                             "such as 'SIGTERM' or 'SIGUSR1'")
        if number in (signal.SIGKILL, signal.SIGSTOP):
            raise ValueError(f'PreemptionHook: {signal.Signals(number).name} cannot be caught')
        numbers.append(number)
    return numbers


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f'signal {signum}'


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Save the current iteration and exit on SIGTERM / SIGUSR1 (see the module docstring).

    Args:
        signals: signal names (or numbers) that mean "you are about to be
            killed". Default ``('SIGTERM', 'SIGUSR1')``: what Slurm,
            Kubernetes and torchrun send, and what ``tools/slurm_train.sh``
            asks Slurm to send ahead of the time limit.
    """

    priority = 'LOWEST'  # after_train_iter: after the checkpoint hook and all others

    def __init__(self, signals: Sequence = DEFAULT_SIGNALS):
        if isinstance(signals, (str, int)):
            signals = [signals]
        self.signums = _signal_numbers(list(signals))
        self._installed = SIGNALS.install(self.signums)
        self._seen = len(SIGNALS.received)  # signals before this hook existed are not ours
        self._training = False
        self._save_at: Optional[int] = None
        self._signum = 0

    # ----------------------------------------------------------- lifecycle
    def before_train(self, runner) -> None:
        self._training = True
        if not self._installed:
            runner.logger.warning('PreemptionHook: not in the main thread, no signal handler '
                                  'installed: a pre-emption signal ends the run unsaved')
            return
        self._remove_record()
        names = ', '.join(_signal_name(s) for s in self.signums)
        if self._can_save(runner):
            runner.logger.info(
                f'PreemptionHook: {names} save a checkpoint at the next iteration, then the '
                f'run exits with code {PREEMPTED_EXIT_CODE} (resume with --resume)')
        else:
            runner.logger.warning(
                f'PreemptionHook: {names} end the run without a save: '
                f'{self._why_no_save(runner)}')

    def after_train(self, runner) -> None:
        self._training = False
        if self._pending():
            runner.logger.info('PreemptionHook: a signal arrived after the last iteration; '
                               'the run completes')
        SIGNALS.uninstall()

    def before_val(self, runner) -> None:
        self._standalone_check()

    def before_test(self, runner) -> None:
        self._standalone_check()

    def _standalone_check(self) -> None:
        """A runner that evaluates without training keeps the default behaviour:
        a pre-emption signal ends it (one recorded before is delivered now)."""
        if self._training:
            return
        pending = self._pending()
        SIGNALS.uninstall()
        if pending:
            os.kill(os.getpid(), pending)

    # ------------------------------------------------------------ signals
    def _pending(self) -> int:
        """The first signal of ours received since this hook exists (0: none)."""
        for signum in SIGNALS.received[self._seen:]:
            if signum in self.signums:
                return signum
        return 0

    def _can_save(self, runner) -> bool:
        return self._why_no_save(runner) is None

    @staticmethod
    def _checkpoint_hook(runner) -> Optional[CheckpointHook]:
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        return hooks[0] if hooks else None

    def _why_no_save(self, runner) -> Optional[str]:
        hook = self._checkpoint_hook(runner)
        if hook is None:
            return 'the run has no checkpoint hook'
        if hook.by_epoch or not isinstance(runner.train_loop, IterBasedTrainLoop):
            return ('an epoch-based run cannot resume in the middle of an epoch (the '
                    "paper's configs are iteration-based)")
        return None

    # ---------------------------------------------------------- agreement
    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self._save_at is not None:
            return
        local = self._pending()
        agreed = local
        if get_world_size() > 1:
            flag = torch.tensor([float(local)], dtype=torch.float64)
            try:
                all_reduce(flag, op='max')  # one collective: a signal anywhere, all ranks act
            except Exception as exc:
                if not local:
                    raise  # a collective failure of its own: tools/train.py explains it
                self._exit_unsaved(runner, local, 'the agreement with the other ranks failed '
                                   f'({str(exc).splitlines()[0][:200] if str(exc) else exc!r}); '
                                   'a peer is gone')
            agreed = int(flag.item())
        if not agreed:
            return
        self._signum = agreed
        reason = self._why_no_save(runner)
        if reason is not None:
            self._exit_unsaved(runner, agreed, reason)
        self._save_at = runner.iter + 1
        request_iter_checkpoint(runner, self._save_at)
        runner.logger.warning(
            f'PreemptionHook: {_signal_name(agreed)} received: saving at the end of iteration '
            f'{self._save_at}, then exiting')

    # -------------------------------------------------------------- saving
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._save_at is None or runner.iter + 1 != self._save_at:
            return
        hook = self._checkpoint_hook(runner)
        filename = hook.filename_tmpl.format(self._save_at)
        path = hook.file_backend.join_path(hook.out_dir, filename)
        already = isinstance(hook.last_ckpt, str) and osp.basename(hook.last_ckpt) == filename \
            and (not is_main_process() or hook.file_backend.exists(path))
        error: Optional[BaseException] = None
        started = time.time()
        if not already:
            if type(hook).__name__ != 'SafeCheckpointHook':
                runner.logger.warning(f'PreemptionHook: saving through {type(hook).__name__}, '
                                      'which is not crash-safe (use SafeCheckpointHook)')
            try:
                hook._save_checkpoint(runner)
            except Exception as exc:  # re-raised after the other ranks know
                error = exc
        ok = torch.tensor([0.0 if error is not None else 1.0], dtype=torch.float64)
        if get_world_size() > 1:
            try:
                all_reduce(ok, op='min')  # every rank waits for rank 0's save to end
            except Exception:
                ok.zero_()
        if error is not None:
            raise error
        if ok.item() < 1:
            self._exit_unsaved(runner, self._signum, 'rank 0 could not save the checkpoint')
        message = (f'PreemptionHook: {_signal_name(self._signum)}: saved {path} '
                   + ('(the scheduled checkpoint) ' if already else
                      f'in {time.time() - started:.1f} s ')
                   + f'at iteration {self._save_at}; exiting with code {PREEMPTED_EXIT_CODE}: '
                   'run again with --resume to continue')
        runner.logger.warning(message)
        self._write_record(path)
        SIGNALS.uninstall()
        raise Preempted(message, True, PREEMPTED_EXIT_CODE, path)

    def _exit_unsaved(self, runner, signum: int, reason: str) -> None:
        latest = read_last_checkpoint(runner.work_dir)
        resume = (f'--resume continues from {latest}' if latest else
                  'no checkpoint exists yet: a restart begins at iteration 0')
        code = 128 + signum
        message = (f'PreemptionHook: {_signal_name(signum)} received, no checkpoint saved '
                   f'({reason}); {resume}; exiting with code {code}')
        print_log(message, logger='current', level=logging.WARNING)
        SIGNALS.uninstall()
        raise Preempted(message, False, code, latest)

    # ------------------------------------------------------- launcher record
    @staticmethod
    def _record_path() -> Optional[str]:
        """The launcher's record file: an absolute path in an existing directory."""
        path = os.environ.get(RECORD_ENV, '')
        if not path or not osp.isabs(path) or not osp.isdir(osp.dirname(path)) or \
                os.environ.get('LOCAL_RANK', '0') != '0':
            return None
        return path

    def _remove_record(self) -> None:
        path = self._record_path()
        if path and osp.isfile(path) and not osp.islink(path):
            os.remove(path)  # left by an earlier generation of a restarted job

    def _write_record(self, checkpoint: str) -> None:
        path = self._record_path()
        if path:
            atomic_write_text(path, json.dumps(dict(
                exit_code=PREEMPTED_EXIT_CODE, iteration=self._save_at, checkpoint=checkpoint,
                signal=_signal_name(self._signum))))
