"""``tools/lever_check.py``: train a speed lever's accuracy check and report it.

Each arm (``baseline``, ``lever``) and seed is one ``tools/train.py`` run
(:func:`mmscratch.apis.launch.train_config`) in its own work dir under
``work_root/<arm>_seed<k>``; a run that already reached its last iteration
is not trained again, so an interrupted check resumes by running the same
command. ``--iters N`` shrinks the schedule with its LR drops and warm-up at
the same fractions (:func:`mmscratch.recipe.schedule.rescale_schedule_length`).
The comparison itself is :mod:`mmscratch.analysis.lever_check`.
"""
from __future__ import annotations

import json
import os.path as osp
from typing import List, Optional, Sequence

from ..analysis.lever_check import ARMS, LeverRun, run_metrics, summarize, to_markdown
from ..analysis.sweep import run_is_complete
from ..recipe.schedule import rescale_schedule_length
from ..utils.config_facts import type_name
from .launch import train_config


def shorten_options(cfg, iters: int) -> List[str]:
    """``--cfg-options`` that shrink ``cfg``'s schedule to ``iters`` iterations.

    The LR drops and the warm-up keep their fraction of the schedule; the
    only evaluation is at the end; a ``ConvergenceCurveHook`` records that
    one point. Works on :class:`ScratchIterBasedTrainLoop` configs (the
    ``train_cfg.schedule`` dict) and on plain iteration-based loops
    (``max_iters``).
    """
    train_cfg = cfg.get('train_cfg') or {}
    opts = []
    schedule = train_cfg.get('schedule')
    if schedule is not None:
        short = rescale_schedule_length(dict(schedule), iters)
        opts += [f'train_cfg.schedule.total_iters={iters}',
                 f'train_cfg.schedule.drops_before_end={json.dumps(short["drops_before_end"])}']
        if 'warmup_iters' in short:
            opts.append(f'train_cfg.schedule.warmup_iters={short["warmup_iters"]}')
    elif 'max_iters' in train_cfg:
        opts.append(f'train_cfg.max_iters={iters}')
    else:
        raise ValueError('--iters needs an iteration-based train_cfg '
                         '(ScratchIterBasedTrainLoop or IterBasedTrainLoop)')
    opts.append(f'train_cfg.val_interval={iters}')
    for index, hook in enumerate(cfg.get('custom_hooks') or []):
        if type_name(hook) == 'ConvergenceCurveHook':
            opts.append(f'custom_hooks.{index}.num_points=1')
    return opts


def plan_runs(work_root: str, seeds: Sequence[int], lever: Sequence[str],
              baseline: Sequence[str] = (), shared: Sequence[str] = (),
              configs: Sequence[str] = ('', '')) -> List[LeverRun]:
    """The runs of the check, baseline and lever interleaved seed by seed;
    ``configs`` is (baseline config, lever config)."""
    runs = []
    for seed in seeds:
        for arm, arm_opts, config in zip(ARMS, (baseline, lever), configs):
            runs.append(LeverRun(arm=arm, seed=seed,
                                 work_dir=osp.join(work_root, f'{arm}_seed{seed}'),
                                 cfg_options=[*shared, *arm_opts, f'randomness.seed={seed}'],
                                 config=config))
    return runs


def run_lever_check(config: str, work_root: str, lever: Sequence[str] = (),
                    baseline: Sequence[str] = (), seeds: Sequence[int] = (0,),
                    iters: Optional[int] = None, shared: Sequence[str] = (),
                    loss_window: int = 100, in_process: bool = False,
                    lever_config: Optional[str] = None) -> dict:
    """Train every run that is not complete, then write and return the report.

    Writes ``lever_check.json`` and ``lever_check.md`` under ``work_root``.
    """
    from ..utils.atomic_io import atomic_write_text
    from ..utils.config_loading import load_config
    if not lever and not lever_config:
        raise ValueError('a lever needs --lever options or a --lever-config')
    configs = (config, lever_config or config)
    for path in configs:  # before any run starts: a typo is one clear error
        load_config(path)
    # each arm's schedule shrunk from its own config (its hook indices may differ)
    short = [shorten_options(load_config(c), iters) if iters is not None else []
             for c in configs]
    runs = plan_runs(work_root, seeds, [*short[1], *shared, *lever],
                     [*short[0], *shared, *baseline], configs=configs)
    for run in runs:
        if not run_is_complete(run.work_dir):
            train_config(run.config, run.work_dir, run.cfg_options,
                         f'{run.arm}/seed {run.seed}', in_process=in_process)
    metrics = [run_metrics(run, loss_window) for run in runs]
    report = dict(config=config, lever_config=configs[1], iters=iters, seeds=list(seeds),
                  loss_window=loss_window, lever=list(lever), baseline=list(baseline),
                  shared=[*short[0], *shared], runs=metrics, summary=summarize(metrics))
    atomic_write_text(osp.join(work_root, 'lever_check.json'), json.dumps(report, indent=2))
    atomic_write_text(osp.join(work_root, 'lever_check.md'), to_markdown(report))
    return report
