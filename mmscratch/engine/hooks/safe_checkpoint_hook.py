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

1. ``runner.save_checkpoint`` writes ``.iter_N.pth.<pid>.tmp`` next to the
   final file (same directory, so the rename below stays on one filesystem);
2. the temporary file is fsync'ed, then renamed to ``iter_N.pth`` with
   ``os.replace`` (atomic on POSIX) and the directory is fsync'ed;
3. ``last_checkpoint`` is replaced the same way (temporary file, fsync,
   rename, directory fsync);
4. only then are checkpoints beyond ``max_keep_ckpts`` (and a superseded
   "best" checkpoint) deleted.

A kill at any instant therefore leaves ``last_checkpoint`` naming a complete
checkpoint: the new one if step 3 finished, else the previous one (at most one
checkpoint interval lost). Leftover temporary files of a killed save, and
checkpoints whose deletion a kill interrupted (recorded in the checkpoint's
message hub), are removed when training starts again.

Non-local storage (``backend_args`` for an object store): objects are written
whole by the backend, so the checkpoint is written directly, but the
write-then-update-then-prune order is kept.
"""
from __future__ import annotations

import hashlib
import os
import os.path as osp
import pickle
from typing import Optional

import torch
from mmengine.dist import is_main_process, master_only
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmdet.registry import HOOKS

from ...utils.atomic_io import (atomic_write_text, commit_file, remove_stale_temporaries,
                                temporary_path)

#: Message-hub key listing checkpoint steps whose deletion is still due. It is
#: saved inside each checkpoint, so a resume finishes a pruning a kill stopped.
PENDING_PRUNE_KEY = 'safe_checkpoint/pending_prune'
LAST_CHECKPOINT = 'last_checkpoint'
@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves the run without a loadable checkpoint.

    Takes exactly ``CheckpointHook``'s arguments; see the module docstring for
    the write protocol and what it guarantees.
    """

    def before_train(self, runner) -> None:
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

    # ------------------------------------------------------------ writing
    def _write_checkpoint(self, runner, filename: str, **kwargs) -> str:
        """``runner.save_checkpoint`` into ``out_dir/filename``, atomically."""
        final = self.file_backend.join_path(self.out_dir, filename)
        if not self._local:
            runner.save_checkpoint(self.out_dir, filename, self.file_client_args,
                                   backend_args=self.backend_args, **kwargs)
            return final
        tmp = temporary_path(final)
        try:
            # master_only: other ranks return at once and write nothing
            runner.save_checkpoint(self.out_dir, osp.relpath(tmp, self.out_dir),
                                   self.file_client_args,
                                   backend_args=self.backend_args, **kwargs)
            if is_main_process():
                commit_file(tmp, final)
        except BaseException:
            if is_main_process() and osp.exists(tmp):
                os.remove(tmp)  # e.g. disk full: don't leave the partial file
            raise
        return final

    def _remove_steps(self, runner, steps) -> None:
        """Delete the checkpoints of ``steps``, never the latest one."""
        if not is_main_process():
            return
        latest = self.last_ckpt or runner.message_hub.get_info('last_ckpt')
        protected = osp.abspath(latest) if latest else None
        for step in steps:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step))
            self._remove_path(runner, path, protected)

    def _remove_path(self, runner, path: str, protected: Optional[str] = None) -> None:
        if self._local and protected is not None and osp.abspath(path) == protected:
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
        sha = hashlib.sha256(pickle.dumps(checkpoint)).hexdigest()
        final_path = osp.splitext(ckpt_path)[0] + f'-{sha[:8]}.pth'
        tmp = temporary_path(final_path)
        try:
            torch.save(checkpoint, tmp)
            commit_file(tmp, final_path)
        finally:
            if osp.exists(tmp):
                os.remove(tmp)
        runner.logger.info(f'The checkpoint ({ckpt_path}) is published to {final_path}.')
