"""The report of a speed lever's accuracy check (:mod:`mmscratch.apis.lever_check`
trains the runs): the same short training with and without the lever.

A speed lever (bf16 autocast, channels_last, polygon masks, ...) may only stay
if accuracy does not drop. This module trains one config for a few hundred
iterations per arm and per seed -- ``baseline`` with the ``--baseline``
options, ``lever`` with the ``--lever`` options, everything else identical;
or, with ``--lever-config``, a second config as the lever arm (a lever that
options cannot switch on, such as an added hook) -- and compares what each
run reached:

* the mean training losses over the last ``loss_window`` iterations
  (``loss`` and each of its parts, from MMEngine's ``vis_data/scalars.json``),
* bbox and segm AP of the final evaluation (``curve.jsonl`` or scalars).

With two or more seeds the seed-to-seed spread of each arm is the noise
estimate: the verdict is ``no drop beyond seed noise`` when the lever's mean
AP is at most one spread (the larger of the two arms') below the baseline's,
for bbox and segm alike; with a single seed there is no noise estimate and
the verdict says so. The numbers, not the verdict, are what README tables
quote.

``--iters N`` shortens a :class:`ScratchIterBasedTrainLoop` schedule
proportionally (LR drops and warm-up scaled by ``N / total``; one evaluation
at the end; the convergence curve reduced to that point), so the check of a
1500-iteration demo costs a fifth of it. Each run is a ``tools/train.py`` run
in a fresh process, with its own work dir under ``work_root/<arm>_seed<k>``;
a run that already reached its last iteration is not trained again, so an
interrupted check resumes by running the same command.
"""
from __future__ import annotations

import dataclasses
import statistics
from typing import Dict, List, Optional, Sequence

from .compare import load_run, scalar_records

ARMS = ('baseline', 'lever')
#: Loss terms averaged over the window (those the run logs).
LOSS_KEYS = ('loss', 'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask')


@dataclasses.dataclass
class LeverRun:
    arm: str
    seed: int
    work_dir: str
    cfg_options: List[str]
    config: str = ''


def window_losses(work_dir: str, window: int) -> Dict[str, float]:
    """Mean of each logged loss over the run's last ``window`` iterations."""
    entries = [e for e in scalar_records(work_dir) if 'loss' in e and 'iter' in e]
    if not entries:
        raise FileNotFoundError(f'{work_dir}: no training losses in */vis_data/scalars.json '
                                '(did the run log?)')
    by_iter = {e['iter']: e for e in entries}  # a resumed run logs some iterations twice
    last = max(by_iter)
    kept = [e for it, e in by_iter.items() if it > last - window]
    return {key: statistics.fmean(e[key] for e in kept)
            for key in LOSS_KEYS if all(key in e for e in kept)}


def run_metrics(run: LeverRun, window: int) -> dict:
    result = load_run(run.work_dir)
    return dict(arm=run.arm, seed=run.seed, work_dir=run.work_dir, iters=result.iters,
                bbox_ap=result.bbox, segm_ap=result.segm,
                losses=window_losses(run.work_dir, window))


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _spread(values: Sequence[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return max(values) - min(values) if len(values) > 1 else None


def summarize(metrics: Sequence[dict]) -> dict:
    """Per-arm means and spreads, lever minus baseline, and the verdict."""
    arms = {}
    for arm in ARMS:
        rows = [m for m in metrics if m['arm'] == arm]
        loss_keys = sorted(set.intersection(*(set(r['losses']) for r in rows))) if rows else []
        arms[arm] = dict(
            seeds=[r['seed'] for r in rows],
            bbox_ap=_mean([r['bbox_ap'] for r in rows]),
            segm_ap=_mean([r['segm_ap'] for r in rows]),
            bbox_ap_spread=_spread([r['bbox_ap'] for r in rows]),
            segm_ap_spread=_spread([r['segm_ap'] for r in rows]),
            losses={k: _mean([r['losses'][k] for r in rows]) for k in loss_keys})
    base, lever = arms['baseline'], arms['lever']
    delta = {}
    for metric in ('bbox_ap', 'segm_ap'):
        if base[metric] is not None and lever[metric] is not None:
            delta[metric] = lever[metric] - base[metric]
    delta['losses'] = {k: lever['losses'][k] - base['losses'][k]
                       for k in base['losses'] if k in lever['losses']}
    noise = {}
    for metric in ('bbox_ap', 'segm_ap'):
        spreads = [s for s in (base[f'{metric}_spread'], lever[f'{metric}_spread'])
                   if s is not None]
        noise[metric] = max(spreads) if spreads else None
    if not all(m in delta for m in ('bbox_ap', 'segm_ap')):
        verdict = 'no AP to compare (did the runs evaluate?)'
    elif any(noise[m] is None for m in ('bbox_ap', 'segm_ap')):
        verdict = 'single seed: no noise estimate'
    elif all(delta[m] >= -noise[m] for m in ('bbox_ap', 'segm_ap')):
        verdict = 'no drop beyond seed noise'
    else:
        verdict = 'drops beyond seed noise'
    return dict(arms=arms, lever_minus_baseline=delta, seed_noise=noise, verdict=verdict)


def _f(value: Optional[float], digits: int = 3) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def to_markdown(report: dict) -> str:
    lines = ['| run | seed | iters | mean loss (last window) | mask loss | bbox AP | segm AP |',
             '|---|---|---|---|---|---|---|']
    for m in report['runs']:
        lines.append(f"| {m['arm']} | {m['seed']} | {m['iters']} | {_f(m['losses'].get('loss'))} "
                     f"| {_f(m['losses'].get('loss_mask'))} | {_f(m['bbox_ap'], 1)} "
                     f"| {_f(m['segm_ap'], 1)} |")
    s = report['summary']
    for arm in ARMS:
        a = s['arms'][arm]
        lines.append(f"| **{arm} mean** | {len(a['seeds'])} seeds | "
                     f"| {_f(a['losses'].get('loss'))} "
                     f"| {_f(a['losses'].get('loss_mask'))} | {_f(a['bbox_ap'], 1)} "
                     f"| {_f(a['segm_ap'], 1)} |")
    d = s['lever_minus_baseline']
    lines += ['', f"lever - baseline: bbox AP {_f(d.get('bbox_ap'), 1)}, segm AP "
              f"{_f(d.get('segm_ap'), 1)}, loss {_f(d['losses'].get('loss'))}; seed noise "
              f"(largest spread): bbox {_f(s['seed_noise']['bbox_ap'], 1)}, segm "
              f"{_f(s['seed_noise']['segm_ap'], 1)}. Verdict: **{s['verdict']}**."]
    return '\n'.join(lines) + '\n'
