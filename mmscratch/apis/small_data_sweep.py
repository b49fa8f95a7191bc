"""``tools/small_data_sweep.py``: scratch vs pretrained for each training-set size.

The paper's question -- below how many images does ImageNet pre-training stop
being optional? -- asked of any COCO-format dataset:

1. nested subsets of the training annotations, one per size
   (:mod:`mmscratch.datasets.subsets`, one seed: the small subset lies in
   the large one);
2. for each size, a scratch run and a pretrained run, each a normal
   ``tools/train.py`` run whose only change is the training annotation file
   (``train_dataloader.dataset.ann_file``) and the work dir;
3. the table (``sweep.md``, ``sweep.csv``) and the plot (``sweep.png``/
   ``.svg``) of AP against training-set size, scratch vs pretrained, with
   the paper's numbers beside ours where the config is one of
   ``configs/small_data/``.

Layout under ``work_root``::

    subsets/instances_<tag>.json      the nested subsets
    <tag>/scratch/, <tag>/pretrained/ the runs' work dirs
    sweep.md, sweep.csv, sweep.png, sweep.svg, sweep.json

A run whose curve already reaches its last iteration is not trained again,
so re-running the same command after an interruption finishes the sweep; an
incomplete run is trained again from its start (resuming it would replace a
pretrained arm's ``load_from`` in its dumped config by its own checkpoint,
and the arm could no longer be told from the config: resume by hand with
the ``--dry-run`` command plus ``--resume`` when a run is too long to redo).
Config paths may contain ``{size}`` (the size tag: ``1k``, ``3.5k``, ...) to
use a different config per size, e.g. the paper's regimes
``configs/small_data/mask_rcnn_r50_gn_{size}_scratch.py``.
"""
from __future__ import annotations

import dataclasses
import os.path as osp
import time
from typing import Callable, Dict, List, Sequence

from ..analysis.compare import RunResult, load_run
from ..analysis.sweep import run_is_complete, write_report
from ..datasets.coco_json import read_coco_json
from ..datasets.subsets import (load_annotations, make_subset, size_tag, subset_order,
                                write_annotations)
from ..utils.config_loading import resolve_config_path
from ..utils.progress import track, wants_progress
from .launch import train_config

@dataclasses.dataclass
class SweepRun:
    """One training run of the sweep."""

    size: int
    arm: str
    config: str
    work_dir: str
    ann_file: str
    cfg_options: List[str]

    @property
    def tag(self) -> str:
        return size_tag(self.size)

    def train_argv(self) -> List[str]:
        """Arguments of ``tools/train.py`` / :func:`mmscratch.apis.train.main`."""
        return [self.config, '--work-dir', self.work_dir, '--cfg-options', *self.cfg_options]


def subset_path(work_root: str, size: int) -> str:
    return osp.join(work_root, 'subsets', f'instances_{size_tag(size)}.json')


def make_subsets(ann_file: str, sizes: Sequence[int], work_root: str, seed: int = 0,
                 keep_empty: bool = False) -> Dict[int, str]:
    """Write the nested subsets of ``ann_file``; returns size -> file."""
    coco = load_annotations(ann_file)
    order = subset_order(coco, seed=seed, keep_empty=keep_empty)
    paths = {}
    for size in sorted(sizes):
        path = subset_path(work_root, size)
        write_annotations(path, make_subset(coco, size, seed=seed, keep_empty=keep_empty,
                                            order=order, source=ann_file))
        paths[size] = path
    return paths


def plan_sweep(config_scratch: str, config_pretrained: str, sizes: Sequence[int],
               work_root: str, cfg_options: Sequence[str] = (),
               cfg_options_scratch: Sequence[str] = (),
               cfg_options_pretrained: Sequence[str] = ()) -> List[SweepRun]:
    """The runs, smallest size first, scratch before pretrained.

    Each run gets ``train_dataloader.dataset.ann_file`` set to its subset
    (an absolute path, which MMEngine does not prefix with ``data_root``),
    the shared ``cfg_options``, then its arm's own options (later wins), and
    a unique ``experiment_name`` so that runs trained in one process keep
    separate loggers and visualizers.
    """
    runs = []
    stamp = time.strftime('%Y%m%d_%H%M%S')
    for size in sorted(sizes):
        ann = osp.abspath(subset_path(work_root, size))
        for arm, config, own in (('scratch', config_scratch, cfg_options_scratch),
                                 ('pretrained', config_pretrained, cfg_options_pretrained)):
            tag = size_tag(size)
            options = [f'train_dataloader.dataset.ann_file={ann}', *cfg_options, *own,
                       f'experiment_name=sweep_{tag}_{arm}_{stamp}']
            runs.append(SweepRun(size=size, arm=arm, config=config.replace('{size}', tag),
                                 work_dir=osp.join(work_root, tag, arm), ann_file=ann,
                                 cfg_options=options))
    return runs


def train_run(run: SweepRun, in_process: bool = False) -> None:
    """Train one run of the sweep (see :func:`train_config`)."""
    train_config(run.config, run.work_dir, run.cfg_options, f'{run.tag}/{run.arm}',
                 in_process=in_process)


@dataclasses.dataclass
class SweepResult:
    runs: List[SweepRun]
    results: Dict[tuple, RunResult]
    files: List[str]


def run_sweep(config_scratch: str, config_pretrained: str, ann_file: str,
              sizes: Sequence[int], work_root: str, seed: int = 0,
              cfg_options: Sequence[str] = (), cfg_options_scratch: Sequence[str] = (),
              cfg_options_pretrained: Sequence[str] = (), keep_empty: bool = False,
              in_process: bool = False, dry_run: bool = False,
              log: Callable[[str], None] = print) -> SweepResult:
    """Make the subsets, train every run that is not complete, write the report.

    With ``dry_run`` nothing is trained or written: the planned commands
    are logged (and returned in ``runs``).
    """
    if not sizes:
        raise ValueError('no sizes given')
    runs = plan_sweep(config_scratch, config_pretrained, sizes, work_root, cfg_options,
                      cfg_options_scratch, cfg_options_pretrained)
    # checked before anything is written or trained, in a dry run too
    for config in dict.fromkeys(run.config for run in runs):
        resolve_config_path(config)
    read_coco_json(ann_file, check_records=False)
    if dry_run:
        log(f'subsets of {ann_file} (seed {seed}) -> {osp.join(work_root, "subsets")}')
        for run in runs:
            log('python tools/train.py ' + ' '.join(_quote(a) for a in run.train_argv()))
        return SweepResult(runs, {}, [])
    make_subsets(ann_file, sizes, work_root, seed=seed, keep_empty=keep_empty)
    # a bar with the ETA over the runs, when on a terminal and training in other
    # processes (in this process, the runs' own logs would break its line)
    for run in track(runs, enabled=wants_progress() and not in_process,
                     title=f'{len(runs)} sweep runs'):
        if run_is_complete(run.work_dir):
            log(f'[{run.tag} {run.arm}] complete, not trained again: {run.work_dir}')
            continue
        log(f'[{run.tag} {run.arm}] training {run.config} -> {run.work_dir}')
        train_run(run, in_process=in_process)
    results = {(run.size, run.arm): load_run(run.work_dir, arm=run.arm) for run in runs}
    files = write_report(results, work_root)
    for path in files:
        log(f'wrote {path}')
    return SweepResult(runs, results, files)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in '/._-=:{}[],' for c in arg) else repr(arg)


# ------------------------------------------------------------------- report
