"""``SafeCheckpointHook``: MMEngine's ``CheckpointHook``, crash-safe.

When it runs: exactly when ``CheckpointHook`` does (same options: ``interval``,
``by_epoch``, ``max_keep_ckpts``, ``save_best``, ``save_last``,
``published_keys``, ...); it is a drop-in replacement::

    default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', ...))

What it changes: only how and in which order files are written. MMEngine
0.10.7 deletes the oldest checkpoint *before* writing the new one and writes
every file in place, so a job killed mid-save (pre-emption, OOM killer, wall
time limit) can be left with a truncated ``iter_N.pth``, a ``last_checkpoint``
naming a deleted file, or no loadable checkpoint at all. This hook saves with
the following protocol (main process):

1. ``runner.save_checkpoint`` serializes the checkpoint and hands the bytes
   to :class:`AtomicLocalBackend`, which writes them to a temporary file
   it creates exclusively next to the final one
   (``.iter_N.pth.<host>.<pid>.<random>.tmp``, ``O_EXCL | O_NOFOLLOW``: a
   link planted in a shared work dir is never written through);
2. the temporary file is fsync'ed, then renamed to ``iter_N.pth`` with
   ``os.replace`` (atomic on POSIX) and the directory is fsync'ed;
3. ``last_checkpoint`` is replaced the same way;
4. only then are checkpoints beyond ``max_keep_ckpts`` (and a superseded
   "best" checkpoint) deleted -- only files of this hook's own name pattern
   directly inside ``out_dir``, whatever a resumed checkpoint claims.

A kill at any instant therefore leaves ``last_checkpoint`` naming a complete
checkpoint: the new one if step 3 finished, else the previous one (at most one
checkpoint interval lost). Leftover temporary files of a killed save (of a
process of this host that is gone; a live job's files are kept), and
checkpoints whose deletion a kill interrupted (recorded in the checkpoint's
message hub), are removed when training starts again.

Non-local storage (``backend_args`` for an object store): objects are written
whole by the backend, so the checkpoint is written directly, but the
write-then-update-then-prune order is kept.

Disk space (local work dirs, main process): at the start of training and
before each save the hook compares the free space of ``out_dir`` with what
the next save and the ``max_keep_ckpts`` kept checkpoints need (sizes from
the last checkpoint written, or estimated from the model and optimizer
before the first one) and warns while there is still time to act. A save
that fails anyway (``ENOSPC`` or any ``OSError``) ends the run with
:class:`CheckpointSaveError`: one line naming the file, the bytes needed and
free, and the last good checkpoint to ``--resume`` from; the partial file is
removed and the previous checkpoint and ``last_checkpoint`` are untouched
(:mod:`mmscratch.utils.disk_space`).
"""
from __future__ import annotations

import hashlib
import io
import os
import os.path as osp
import pickle
import re
from typing import Optional

import torch
from mmengine.dist import is_main_process, master_only
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook
from mmdet.registry import HOOKS

from ...checkpoint import to_plain_data
from ...checkpoint.bookkeeping import KEEP_IDS_KEY, valid_steps
from ...utils.atomic_io import atomic_write_bytes, atomic_write_text, remove_stale_temporaries
from ...utils.disk_space import (SpacePlan, estimate_checkpoint_bytes, free_bytes,
                                 save_failure_message)
from ...utils.run_files import read_last_checkpoint

#: Message-hub key listing checkpoint steps whose deletion is still due. It is
#: saved inside each checkpoint, so a resume finishes a pruning a kill stopped.
PENDING_PRUNE_KEY = 'safe_checkpoint/pending_prune'
LAST_CHECKPOINT = 'last_checkpoint'
ATOMIC_BACKEND = 'mmscratch_atomic_local'


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """MMEngine's ``LocalBackend`` whose writes are atomic and follow no link
    (:func:`mmscratch.utils.atomic_io.atomic_write_bytes`)."""

    def put(self, obj: bytes, filepath) -> None:
        try:
            os.makedirs(osp.dirname(str(filepath)) or '.', exist_ok=True)
            atomic_write_bytes(str(filepath), obj)
        except OSError as exc:
            exc.bytes_needed = len(obj)  # for CheckpointSaveError's message
            raise

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (disk full, I/O error, permissions).

    Its message is one line: the file, the reason, the bytes needed and free,
    and the last good checkpoint to ``--resume`` from.
    """

    def __init__(self, message: str, errno_: Optional[int], path: str):
        super().__init__(errno_, message, path)
        self.message = message

    def __str__(self) -> str:
        return self.message


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves the run without a loadable checkpoint.

    Takes exactly ``CheckpointHook``'s arguments; see the module docstring for
    the write protocol and what it guarantees.
    """

    def before_train(self, runner) -> None:
        # CheckpointHook.before_train deletes OUT_DIR/filename_tmpl.format(step)
        # for old keep_ckpt_ids: only iteration numbers may get there, however
        # the message hub was filled (mmscratch's loader checks it as well)
        kept = runner.message_hub.runtime_info.get(KEEP_IDS_KEY)
        if kept is not None and not valid_steps(kept):
            runner.logger.warning(f'SafeCheckpointHook: ignoring {KEEP_IDS_KEY} {kept!r:.120} '
                                  '(not a list of iteration numbers)')
            runner.message_hub.runtime_info.pop(KEEP_IDS_KEY)
        super().before_train(runner)
        self._local = (self.file_client_args is None and isinstance(
            get_file_backend(self.out_dir, backend_args=self.backend_args), LocalBackend))
        if not is_main_process() or not self._local:
            return
        stale = remove_stale_temporaries([self.out_dir, runner.work_dir])
        if stale:
            runner.logger.warning(
                f'SafeCheckpointHook: removed {len(stale)} partial file(s) of an '
                f'interrupted save: {", ".join(osp.basename(p) for p in stale)}')
        pending = runner.message_hub.get_info(PENDING_PRUNE_KEY) or []
        self._remove_steps(runner, pending)
        runner.message_hub.update_info(PENDING_PRUNE_KEY, [])
        self._checkpoint_bytes = self._size_of(self._last_good_checkpoint(runner))
        self._check_space(runner)

    # ------------------------------------------------------------ disk space
    @staticmethod
    def _size_of(path: Optional[str]) -> Optional[int]:
        try:
            return os.stat(path).st_size if path else None
        except OSError:
            return None

    @staticmethod
    def _last_good_checkpoint(runner) -> Optional[str]:
        """The checkpoint ``--resume`` would continue from now, if it exists."""
        return read_last_checkpoint(runner.work_dir)

    def _space_plan(self, runner) -> Optional[SpacePlan]:
        free = free_bytes(self.out_dir)
        if free is None:
            return None
        size = getattr(self, '_checkpoint_bytes', None)
        if size is None:
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            wrapper = getattr(runner, 'optim_wrapper', None)
            wrappers = wrapper.values() if hasattr(wrapper, 'values') else [wrapper]
            optimizers = [w.optimizer for w in wrappers if hasattr(w, 'optimizer')]
            size = estimate_checkpoint_bytes(model, optimizers if self.save_optimizer else ())
        kept = sum(self._size_of(self.file_backend.join_path(
            self.out_dir, self.filename_tmpl.format(step))) or 0
            for step in (getattr(self, 'keep_ckpt_ids', None) or ()))
        return SpacePlan(self.out_dir, int(size), self.max_keep_ckpts, kept, free)

    def _upcoming_saves(self, runner):
        """Iterations of the scheduled saves from the current one on (None: by epoch)."""
        if self.by_epoch or self.interval <= 0:
            return None
        current, last = runner.iter + 1, runner.max_iters
        start, step, save_last = self.save_begin, self.interval, self.save_last

        def saves():
            at = max(current, start)
            at += (start - at) % step  # the first iteration with (at - start) % step == 0
            while at <= last:
                yield at
                at += step
            if save_last and last >= current and (last < start or (last - start) % step):
                yield last
        return saves()

    def _check_space(self, runner) -> None:
        """Warn (main process, local out_dir) when saves will run out of space."""
        if not is_main_process() or not getattr(self, '_local', False):
            return
        plan = self._space_plan(runner)
        if plan is None:
            return
        problem = plan.problem(self._upcoming_saves(runner))
        if problem:
            runner.logger.warning(f'SafeCheckpointHook: disk space: {problem}')

    # ------------------------------------------------------------ writing
    def _write_checkpoint(self, runner, filename: str, **kwargs) -> str:
        """``runner.save_checkpoint`` into ``out_dir/filename``, atomically.

        master_only: other ranks return at once and write nothing. A failed
        write (disk full, a signal) leaves no temporary file and the previous
        checkpoint untouched.
        """
        final = self.file_backend.join_path(self.out_dir, filename)
        backend_args = dict(backend=ATOMIC_BACKEND) if self._local else self.backend_args
        file_client_args = None if self._local else self.file_client_args
        if not (self._local and is_main_process()):
            runner.save_checkpoint(self.out_dir, filename, file_client_args,
                                   backend_args=backend_args, **kwargs)
            return final
        self._check_space(runner)
        last_good = self._last_good_checkpoint(runner)
        try:
            runner.save_checkpoint(self.out_dir, filename, file_client_args,
                                   backend_args=backend_args, **kwargs)
        except OSError as exc:
            needed = getattr(exc, 'bytes_needed', None) or getattr(self, '_checkpoint_bytes', None)
            message = save_failure_message(final, exc, needed, free_bytes(self.out_dir),
                                           last_good)
            runner.logger.error(f'SafeCheckpointHook: {message}')
            raise CheckpointSaveError(message, exc.errno, final) from exc
        size = self._size_of(final)
        if size is not None and kwargs.get('save_optimizer') == self.save_optimizer:
            self._checkpoint_bytes = size  # the next save's size ("best" ones are smaller)
        return final

    def _own_file_pattern(self) -> re.Pattern:
        """Names this hook writes: ``filename_tmpl`` of a step, and ``best_*_`` of one."""
        parts = [re.escape(p) for p in self.filename_tmpl.split('{}')]
        return re.compile(r'^(best_[^/\\]+_)?' + r'\d+'.join(parts) + '$')

    def _remove_steps(self, runner, steps) -> None:
        """Delete the checkpoints of ``steps``, never the latest one.

        The steps come back from a resumed checkpoint: anything but a
        non-negative int is ignored (with a warning), never turned into a path.
        """
        if not is_main_process():
            return
        latest = self.last_ckpt or runner.message_hub.get_info('last_ckpt')
        protected = osp.abspath(latest) if isinstance(latest, str) else None
        for step in steps if isinstance(steps, (list, tuple)) else [steps]:
            if type(step) is not int or step < 0:
                runner.logger.warning(
                    f'SafeCheckpointHook: ignoring the pruning entry {step!r:.60} (not an '
                    'iteration number)')
                continue
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step))
            self._remove_path(runner, path, protected)

    def _remove_path(self, runner, path: str, protected: Optional[str] = None) -> None:
        """Delete a checkpoint of this hook: only its own file names, in ``out_dir``."""
        if not isinstance(path, str):
            return
        if self._local:
            # The file deleted is OUT_DIR/NAME, built here from the name alone,
            # and only when the path given is exactly that (no '..', no other
            # directory that could be re-pointed between a check and the delete).
            own = osp.join(self.out_dir, osp.basename(path))
            if '..' in path.replace('\\', '/').split('/') or \
                    osp.normpath(path) != osp.normpath(own) or osp.islink(own) \
                    or not self._own_file_pattern().match(osp.basename(path)):
                runner.logger.warning(
                    f'SafeCheckpointHook: not deleting {path!r:.200}: not a checkpoint '
                    f'file of this hook in {self.out_dir}')
                return
            path = own
            if protected is not None and osp.abspath(path) == protected:
                return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # DeepSpeed checkpoints are directories
            self.file_backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        # Same bookkeeping as CheckpointHook, but what is to be deleted is only
        # remembered here and deleted after the new checkpoint and
        # last_checkpoint are committed (MMEngine deletes first).
        to_remove = []
        if self.max_keep_ckpts > 0:
            # _save_best_checkpoint re-saves the latest step: nothing to rotate
            if not (len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    to_remove.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        runner.message_hub.update_info(PENDING_PRUNE_KEY, list(to_remove))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        self._write_checkpoint(
            runner, ckpt_filename,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            **self.args)

        # Model-parallel saves would gather shards from all ranks; the rest
        # is file bookkeeping on the main process only (as in MMEngine).
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, LAST_CHECKPOINT), self.last_ckpt)
        self._remove_steps(runner, to_remove)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """As in ``CheckpointHook``, but the previous best is deleted only after
        the new best is committed (MMEngine deletes it first)."""
        if not self.save_best:
            return
        if self.by_epoch:
            ckpt_filename = self.filename_tmpl.format(runner.epoch)
            cur_type, cur_time = 'epoch', runner.epoch
        else:
            ckpt_filename = self.filename_tmpl.format(runner.iter)
            cur_type, cur_time = 'iter', runner.iter
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])

        best_ckpt_updated = False
        single = len(self.key_indicators) == 1
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            key_score = metrics[key_indicator]
            best_score_key = 'best_score' if single else f'best_score_{key_indicator}'
            runtime_best_ckpt_key = 'best_ckpt' if single else f'best_ckpt_{key_indicator}'
            previous = self.best_ckpt_path if single else self.best_ckpt_path_dict[key_indicator]
            if best_score_key in runner.message_hub.runtime_info:
                best_score = runner.message_hub.get_info(best_score_key)
            else:
                best_score = self.init_value_map[rule]
            if key_score is None or not self.is_better_than[key_indicator](key_score, best_score):
                continue
            best_ckpt_updated = True
            runner.message_hub.update_info(best_score_key, key_score)

            best_ckpt_name = f'best_{key_indicator}_{ckpt_filename}'.replace('/', '_')
            new_path = self.file_backend.join_path(self.out_dir, best_ckpt_name)
            if single:
                self.best_ckpt_path = new_path
            else:
                self.best_ckpt_path_dict[key_indicator] = new_path
            runner.message_hub.update_info(runtime_best_ckpt_key, new_path)
            self._write_checkpoint(runner, best_ckpt_name, save_optimizer=False,
                                   save_param_scheduler=False, meta=meta, by_epoch=False)
            if previous and previous != new_path and is_main_process():
                self._remove_path(runner, previous)
                runner.logger.info(f'The previous best checkpoint {previous} is removed')
            runner.logger.info(
                f'The best checkpoint with {key_score:0.4f} {key_indicator} '
                f'at {cur_time} {cur_type} is saved to {best_ckpt_name}.')

        # As in MMEngine: re-save the latest checkpoint so that the best score
        # and path it holds are current (a resume must know the best so far).
        if best_ckpt_updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, cur_time, meta)

    @master_only
    def _publish_model(self, runner, ckpt_path: str) -> None:
        """As in ``CheckpointHook``, with the published file written atomically."""
        from mmengine.runner.checkpoint import _load_checkpoint
        checkpoint = _load_checkpoint(ckpt_path, map_location='cpu')
        assert self.published_keys is not None
        removed_keys = [k for k in list(checkpoint) if k not in self.published_keys]
        for key in removed_keys:
            checkpoint.pop(key)
        if removed_keys:
            runner.logger.info(
                f'Key {removed_keys} will be removed because they are not found in '
                f'published_keys. If you want to keep them, please set '
                f'`{removed_keys}` in published_keys')
        checkpoint = to_plain_data(checkpoint)  # the loader rebuilt numpy values
        sha = hashlib.sha256(pickle.dumps(checkpoint)).hexdigest()
        final_path = osp.splitext(ckpt_path)[0] + f'-{sha[:8]}.pth'
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(final_path, buffer.getvalue())
        runner.logger.info(f'The checkpoint ({ckpt_path}) is published to {final_path}.')
