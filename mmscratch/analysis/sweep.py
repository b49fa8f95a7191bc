"""A small-data regime sweep: scratch vs pretrained for each training-set size.

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

import csv
import dataclasses
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

from ..datasets.coco_json import read_coco_json
from ..datasets.subsets import (load_annotations, make_subset, size_tag, subset_order,
                                write_annotations)
from ..utils.config_loading import resolve_config_path
from ..utils.progress import track, wants_progress
from ..utils.run_files import read_curve_meta
from .compare import RunResult, load_run
from .curves import read_curve

ARMS = ('scratch', 'pretrained')


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


def run_is_complete(work_dir: str) -> bool:
    """The run's curve has a record at its planned last iteration."""
    total = read_curve_meta(work_dir).get('max_iters')
    if total is None or not osp.isfile(osp.join(work_dir, 'curve.jsonl')):
        return False
    records = read_curve(work_dir)
    return bool(records) and total is not None and records[-1]['iter'] >= total


def train_config(config: str, work_dir: str, cfg_options: Sequence[str], label: str,
                 in_process: bool = False, extra_args: Sequence[str] = ()) -> None:
    """``tools/train.py CONFIG --work-dir WORK_DIR [EXTRA_ARGS] --cfg-options ...``:
    in this process (fast to start, for tests and small runs) or in a fresh
    Python process (the default: every run starts from clean registries and
    frees its memory when it ends; its output goes to ``WORK_DIR/train.log``,
    appended to by a resumed run). ``extra_args`` are more flags of
    ``tools/train.py``, e.g. ``--resume``."""
    argv = [config, '--work-dir', work_dir, *extra_args, '--cfg-options', *cfg_options]
    os.makedirs(work_dir, exist_ok=True)
    if in_process:
        from ..apis.train import main
        main(argv)
        return
    code = 'import sys; from mmscratch.apis.train import main; main(sys.argv[1:])'
    log_path = osp.join(work_dir, 'train.log')
    with open(log_path, 'a' if '--resume' in extra_args else 'w') as log:
        proc = subprocess.run([sys.executable, '-c', code, *argv],
                              stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'training {label} failed (exit {proc.returncode}); '
                           f'log: {log_path}\n{tail}')


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
def _fmt(value: Optional[float]) -> str:
    return '–' if value is None else f'{value:.1f}'


def sweep_rows(results: Dict[tuple, RunResult]) -> List[dict]:
    """One row per size: best and final box/mask AP of each arm, and the paper's."""
    rows = []
    for size in sorted({size for size, _ in results}):
        row = dict(size=size, tag=size_tag(size))
        for arm in ARMS:
            r = results.get((size, arm))
            # The paper's number only where the config is the regime of this size
            # (one 10k config swept over several sizes is not the paper's 1k).
            ref = (r.reference if r is not None and r.key.data == size
                   else dict(bbox=None, segm=None))
            row.update({
                f'{arm}_best_bbox': r.best_bbox if r else None,
                f'{arm}_best_iter': r.best_bbox_iter if r else None,
                f'{arm}_bbox': r.bbox if r else None,
                f'{arm}_best_segm': r.best_segm if r else None,
                f'{arm}_iters': r.iters if r else None,
                f'{arm}_config': r.config_name if r else None,
                f'{arm}_paper_bbox': ref['bbox'],
            })
        s, p = row['scratch_best_bbox'], row['pretrained_best_bbox']
        row['gap'] = None if s is None or p is None else s - p
        rows.append(row)
    return rows


def sweep_markdown(rows: List[dict]) -> str:
    lines = ['## AP vs training-set size: scratch vs pretrained', '',
             'Box AP is the best along each run\'s curve (the paper reports the peak '
             'before overfitting), at the iteration in brackets; final = last evaluation; '
             'paper numbers in parentheses where the config is the paper\'s regime.', '',
             '| images | scratch box AP (iter) | final | pretrained box AP (iter) | final '
             '| scratch − pretrained | scratch mask AP | pretrained mask AP |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|']
    for row in rows:
        cells = []
        for arm in ARMS:
            text = _fmt(row[f'{arm}_best_bbox'])
            if row[f'{arm}_best_iter'] is not None:
                text += f' ({row[f"{arm}_best_iter"]})'
            if row[f'{arm}_paper_bbox'] is not None:
                text += f' (paper {row[f"{arm}_paper_bbox"]:.1f})'
            cells += [text, _fmt(row[f'{arm}_bbox'])]
        gap = '–' if row['gap'] is None else f'{row["gap"]:+.1f}'
        cells += [gap, _fmt(row['scratch_best_segm']), _fmt(row['pretrained_best_segm'])]
        lines.append(f'| {row["size"]:,} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_sweep(rows: List[dict], out_path: str) -> List[str]:
    """AP against training-set size (log x), one line per arm, paper as hollow marks."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=110)
    colors = dict(scratch='tab:purple', pretrained='tab:green')
    drawn = 0
    for arm in ARMS:
        pts = [(r['size'], r[f'{arm}_best_bbox']) for r in rows
               if r[f'{arm}_best_bbox'] is not None]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, '-o', color=colors[arm], label=f'{arm} (best box AP)')
            drawn += 1
        refs = [(r['size'], r[f'{arm}_paper_bbox']) for r in rows
                if r[f'{arm}_paper_bbox'] is not None]
        if refs:
            xs, ys = zip(*refs)
            ax.plot(xs, ys, linestyle='none', marker='s', markerfacecolor='none',
                    color=colors[arm], label=f'{arm} (paper)')
    if not drawn:
        plt.close(fig)
        raise ValueError('no AP to plot: no run has evaluated yet')
    ax.set_xscale('log')
    sizes = [r['size'] for r in rows]
    ax.set_xticks(sizes)
    ax.set_xticklabels([r['tag'] for r in rows])
    ax.minorticks_off()
    ax.set_xlabel('training images')
    ax.set_ylabel('box AP (%)')
    ax.set_title('From scratch vs ImageNet-pretrained, by training-set size')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path)
    written = [out_path]
    if out_path.endswith('.png'):
        fig.savefig(out_path[:-4] + '.svg')
        written.append(out_path[:-4] + '.svg')
    plt.close(fig)
    return written


def write_report(results: Dict[tuple, RunResult], work_root: str) -> List[str]:
    """``sweep.md``, ``sweep.csv``, ``sweep.json`` and the plot; returns the files."""
    rows = sweep_rows(results)
    os.makedirs(work_root, exist_ok=True)
    md = osp.join(work_root, 'sweep.md')
    with open(md, 'w') as f:
        f.write(sweep_markdown(rows))
    csv_path = osp.join(work_root, 'sweep.csv')
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: '' if v is None else v for k, v in row.items()})
    js = osp.join(work_root, 'sweep.json')
    with open(js, 'w') as f:
        json.dump(rows, f, indent=1)
    files = [md, csv_path, js]
    try:
        files += plot_sweep(rows, osp.join(work_root, 'sweep.png'))
    except ValueError:
        pass  # nothing evaluated yet: the tables still say so
    return files
