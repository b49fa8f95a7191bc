"""``RunInfoHook``: what a run is, as data, for the tools that read work dirs.

When it runs: ``before_train``, once (main process), after the loop resolved
the schedule; and ``before_save_checkpoint``.

What it changes: nothing in training. Each checkpoint's ``meta`` gets
``mmscratch_recipe``: the config's name and file, and the ``scratchify``
arguments when the model was built by ``--scratchify`` -- so that
``tools/test.py`` rebuilds the same model from the original config. It
writes ``WORK_DIR/run_info.json``
(atomically): the config name, whether the run is from scratch or starts
from trained weights (and from which), the norm layers per part of the
model, the parts that stay frozen (a pretrained twin's stem and res2), the
resolved schedule (label such as ``6x``, iterations, LR steps, warm-up), the
total batch and the number of processes. ``compare_runs.py``,
``plot_curves.py`` and the sweeps read this file instead of the config the
work dir holds: a work dir from someone else is data, and reading it must
never execute a ``.py`` file.
"""
from __future__ import annotations

import json
import os.path as osp
import time
from typing import Optional

from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ...utils.atomic_io import atomic_write_text
from ...recipe.scratchify import APPLIED_KEY
from ...utils import run_files
from ...utils.config_facts import pretrained_sources
from ...version import __version__
from ..runner.scratch_loop import images_per_device
from .scratch_guard_hook import frozen_parts, norm_summary

RUN_INFO_FILE = run_files.RUN_INFO_FILE
#: Key of a checkpoint's ``meta`` saying how its model was built.
RECIPE_KEY = 'mmscratch_recipe'


def recipe_record(cfg) -> dict:
    """How the run's model was built: config name/file, ``scratchify`` arguments."""
    filename = getattr(cfg, 'filename', None)
    applied = cfg.get(APPLIED_KEY)
    return dict(config_name=osp.splitext(osp.basename(filename))[0] if filename else None,
                config_file=filename,
                scratchified=applied.to_dict() if hasattr(applied, 'to_dict') else applied)


def schedule_label(cfg, total_iters: int) -> str:
    """'6x' for a paper multiple, else '220k it' / '30 it'."""
    schedule = (cfg.get('train_cfg') or {}).get('schedule') or {}
    multiple = schedule.get('multiple') if isinstance(schedule, dict) else None
    if isinstance(multiple, (int, float)) and not isinstance(multiple, bool):
        return f'{multiple:g}x'
    if total_iters >= 1000 and total_iters % 1000 == 0:
        return f'{total_iters // 1000}k it'
    return f'{total_iters} it'


def overall_norm(summary: dict) -> Optional[str]:
    """'GN' / 'SyncBN' / 'BN' when one kind is used everywhere, else 'GN+BN' etc."""
    kinds = sorted({k for counts in summary.values() for k in counts})
    return '+'.join(kinds) if kinds else None


@HOOKS.register_module()
class RunInfoHook(Hook):
    """Write ``run_info.json`` at the start of training (see the module docstring)."""

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[RECIPE_KEY] = recipe_record(runner.cfg)

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        cfg = runner.cfg
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        loop = runner.train_loop
        schedule = getattr(loop, 'schedule', None)
        summary = norm_summary(model)
        # the runner's own load_from/resume: what this run actually did
        sources = pretrained_sources(dict(
            model=cfg.get('model'),
            load_from=getattr(runner, '_load_from', None) or cfg.get('load_from'),
            resume=getattr(runner, '_resume', False)))
        filename = getattr(cfg, 'filename', None)
        info = dict(
            config_name=osp.splitext(osp.basename(filename))[0] if filename else 'run',
            config_file=filename,
            arm='pretrained' if sources else 'scratch',
            pretrained_sources=sources,
            norm=overall_norm(summary),
            norms={group: sorted(counts) for group, counts in summary.items()},
            # what stays fixed in training (a pretrained twin: the stem and res2)
            frozen=frozen_parts(model),
            schedule=schedule_label(cfg, loop.max_iters),
            max_iters=loop.max_iters,
            lr_steps=list(schedule.steps) if schedule is not None else [],
            warmup_iters=schedule.warmup_iters if schedule is not None else None,
            batch_size=images_per_device(loop.dataloader) * get_world_size(),
            world_size=get_world_size(),
            seed=getattr(runner, 'seed', None),
            started=time.strftime('%Y-%m-%dT%H:%M:%S'),
            mmscratch_version=__version__)
        atomic_write_text(osp.join(runner.work_dir, RUN_INFO_FILE), json.dumps(info, indent=1))
