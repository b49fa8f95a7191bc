"""The report of a small-data sweep (:mod:`mmscratch.apis.small_data_sweep`):
AP against training-set size, scratch vs pretrained.

``sweep.md`` / ``sweep.csv`` (with the paper's numbers beside ours where the
config is one of ``configs/small_data/``) and ``sweep.png`` / ``.svg``, made
from what the runs wrote (their curves and ``run_info.json``), and
:func:`run_is_complete`, which the launchers use to skip finished runs.
"""
from __future__ import annotations

import csv
import io
import json
import os
import os.path as osp
from typing import Dict, List, Optional

from ..datasets.subsets import size_tag
from ..utils.atomic_io import atomic_write_text
from ..utils.run_files import read_curve, read_curve_meta
from ..visualization.curves import save_figure
from .compare import RunResult

ARMS = ('scratch', 'pretrained')


def run_is_complete(work_dir: str) -> bool:
    """The run's curve has a record at its planned last iteration."""
    total = read_curve_meta(work_dir).get('max_iters')
    if total is None or not osp.isfile(osp.join(work_dir, 'curve.jsonl')):
        return False
    records = read_curve(work_dir)
    return bool(records) and total is not None and records[-1]['iter'] >= total


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
    save_figure(fig, out_path)
    written = [out_path]
    if out_path.endswith('.png'):
        save_figure(fig, out_path[:-4] + '.svg')
        written.append(out_path[:-4] + '.svg')
    plt.close(fig)
    return written


def write_report(results: Dict[tuple, RunResult], work_root: str) -> List[str]:
    """``sweep.md``, ``sweep.csv``, ``sweep.json`` and the plot; returns the files."""
    rows = sweep_rows(results)
    os.makedirs(work_root, exist_ok=True)
    # the work root is shared: every file is written atomically, never through a link
    md = osp.join(work_root, 'sweep.md')
    atomic_write_text(md, sweep_markdown(rows))
    csv_path = osp.join(work_root, 'sweep.csv')
    text = io.StringIO(newline='')
    writer = csv.DictWriter(text, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: '' if v is None else v for k, v in row.items()})
    atomic_write_text(csv_path, text.getvalue())
    js = osp.join(work_root, 'sweep.json')
    atomic_write_text(js, json.dumps(rows, indent=1))
    files = [md, csv_path, js]
    try:
        files += plot_sweep(rows, osp.join(work_root, 'sweep.png'))
    except ValueError:
        pass  # nothing evaluated yet: the tables still say so
    return files
