"""Convergence curves: the JSON-lines records of a run and the paper's Figure 1.

A run's ``curve.jsonl`` (written by ``ConvergenceCurveHook``) holds one record
per evaluation: ``iter``, ``images_seen``, ``wall_time_s``, ``lr_steps`` and
the COCO metrics (``bbox_mAP``, ``bbox_mAP_50``, ..., ``segm_mAP_l``).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

CURVE_FILE = 'curve.jsonl'
PLOT_FILE = 'curve.png'


def curve_path(run_dir: str) -> str:
    return osp.join(run_dir, CURVE_FILE)


def read_curve(path_or_dir: str) -> List[dict]:
    """Records of one run, sorted by iteration; a torn last line is ignored."""
    path = curve_path(path_or_dir) if osp.isdir(path_or_dir) else path_or_dir
    if not osp.isfile(path):
        raise FileNotFoundError(f'no convergence curve at {path}')
    records = []
    with open(path) as f:
        lines = f.read().splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if lineno == len(lines):  # a write cut short by a crash
                break
            raise ValueError(f'{path}:{lineno}: not a JSON record ({exc})') from exc
    return sorted(records, key=lambda r: r['iter'])


def write_curve(path: str, records: Iterable[dict]) -> None:
    """Rewrite a curve file atomically (temp file, fsync, rename)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.curve-', dir=directory)
    try:
        with os.fdopen(fd, 'w') as f:
            for record in records:
                f.write(json.dumps(record, sort_keys=True) + '\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def append_record(path: str, record: dict) -> None:
    with open(path, 'a') as f:
        f.write(json.dumps(record, sort_keys=True) + '\n')
        f.flush()
        os.fsync(f.fileno())


def run_label(run_dir: str) -> str:
    """Legend label: the config name recorded by the hook, else the dir name."""
    meta = osp.join(run_dir, 'curve_meta.json')
    if osp.isfile(meta):
        with open(meta) as f:
            name = json.load(f).get('config_name')
        if name:
            return name
    return osp.basename(osp.normpath(run_dir))


def plot_runs(runs: Dict[str, List[dict]],
              out_path: str,
              x: str = 'iter',
              metrics: Sequence[str] = ('bbox_mAP', 'segm_mAP'),
              title: Optional[str] = None) -> List[str]:
    """The paper's Figure 1: AP against iterations (or images seen) per run.

    One line per run and metric (bbox solid, segm dashed), dotted vertical
    markers at each run's LR drops. Writes ``out_path`` and, for a ``.png``,
    the ``.svg`` beside it; returns the files written.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if x not in ('iter', 'images_seen'):
        raise ValueError(f"x must be 'iter' or 'images_seen', got {x!r}")
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    styles = {'bbox_mAP': '-', 'segm_mAP': '--'}
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    plotted = 0
    for i, (label, records) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        for metric in metrics:
            pts = [(r[x], 100 * r[metric]) for r in records
                   if r.get(metric) is not None and r.get(x) is not None and r[metric] >= 0]
            if not pts:
                continue
            xs, ys = zip(*pts)
            kind = metric.split('_')[0]
            ax.plot(xs, ys, styles.get(metric, '-'), color=color, marker='o', markersize=3,
                    label=f'{label} ({kind})')
            plotted += 1
        steps = records[-1].get('lr_steps') if records else None
        if steps and x == 'iter':
            for s in steps:
                ax.axvline(s, color=color, linestyle=':', linewidth=1, alpha=0.7)
    if plotted == 0:
        plt.close(fig)
        raise ValueError('no AP values to plot')
    ax.set_xlabel('iterations' if x == 'iter' else 'images seen')
    ax.set_ylabel('AP (COCO, %)')
    ax.set_title(title or 'AP during training (dotted: LR drops)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    written = [out_path]
    fig.savefig(out_path)
    if out_path.endswith('.png'):
        svg = out_path[:-4] + '.svg'
        fig.savefig(svg)
        written.append(svg)
    plt.close(fig)
    return written
