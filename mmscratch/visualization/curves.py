"""The paper's Figure 1: AP against iterations (or images seen), one line per run.

Drawn from the runs' ``curve.jsonl`` records (their format and reader:
:mod:`mmscratch.utils.run_files`) by ``ConvergenceCurveHook`` at each
evaluation (``curve.png`` in the work dir) and by ``tools/plot_curves.py``
for several runs.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from ..utils.atomic_io import atomic_write_bytes, atomic_write_text
from ..utils.run_files import run_name

PLOT_FILE = 'curve.png'


def save_figure(fig, path: str) -> None:
    """``fig.savefig(path)`` through an atomic write (never through a link)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=osp.splitext(path)[1][1:] or 'png')
    atomic_write_bytes(path, buffer.getvalue())


def run_label(run_dir: str) -> str:
    """Legend label: the config name the run's hooks recorded, else the dir name."""
    return run_name(run_dir)


#: ``x`` values accepted by the plots; ``images`` is short for ``images_seen``.
X_AXES = {'iter': 'iter', 'images_seen': 'images_seen', 'images': 'images_seen'}
_METRIC_STYLES = {'bbox': '-', 'segm': '--'}


@dataclasses.dataclass
class CurvePlot:
    """What :func:`plot_curves` drew, for callers and tests to inspect.

    Attributes:
        files: the files written (the image, its ``.svg`` twin for a
            ``.png``, and the data file when asked for).
        series: one dict per drawn line: ``label`` (run), ``metric``, ``x``
            and ``y`` (AP in %), in drawing order.
        lr_markers: run label -> x positions of its LR-drop markers.
    """

    files: List[str]
    series: List[dict]
    lr_markers: Dict[str, List[float]]

    @property
    def num_lines(self) -> int:
        return len(self.series)

    def labels(self) -> List[str]:
        """Distinct run labels, in drawing order."""
        return list(dict.fromkeys(s['label'] for s in self.series))


def _lr_drop_positions(records: List[dict], x: str) -> List[float]:
    """Where a run's LR drops sit on the x axis.

    Steps are iterations; against images seen they are mapped through the
    run's images per iteration (the last record's ``images_seen / iter``),
    exact for the fixed-batch loops that write the records.
    """
    if not records:
        return []
    steps = records[-1].get('lr_steps') or []
    if x == 'iter':
        return [float(s) for s in steps]
    last = records[-1]
    if not last.get('iter') or last.get('images_seen') is None:
        return []
    per_iter = last['images_seen'] / last['iter']
    return [float(s) * per_iter for s in steps]


def plot_curves(runs: Dict[str, List[dict]],
                out_path: str,
                x: str = 'iter',
                metrics: Sequence[str] = ('bbox_mAP', 'segm_mAP'),
                title: Optional[str] = None,
                data_path: Optional[str] = None) -> CurvePlot:
    """The paper's Figure 1: AP against iterations (or images seen) per run.

    One line per run and metric (``bbox_*`` solid, ``segm_*`` dashed, one
    colour per run), dotted vertical markers at each run's LR drops (where
    the paper's curves leap). Writes ``out_path`` and, for a ``.png``, the
    ``.svg`` beside it; with ``data_path``, also the plotted numbers as JSON
    (what was drawn, for tables and checks without reading pixels).

    Args:
        runs: label -> curve records (:func:`read_curve`).
        out_path: image file (format from the extension).
        x: ``'iter'``, ``'images_seen'`` or ``'images'``.
        metrics: record keys to draw, e.g. ``('bbox_mAP',)``.
        title: figure title.
        data_path: optional JSON file for the plotted series.

    Raises:
        ValueError: for an unknown ``x`` or when no run has a value to plot.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}, got {x!r}")
    x = X_AXES[x]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    series: List[dict] = []
    markers: Dict[str, List[float]] = {}
    for i, (label, records) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        for metric in metrics:
            # AP -1 is pycocotools' "no ground truth of this size": not a point.
            pts = [(r[x], 100 * r[metric]) for r in records
                   if r.get(metric) is not None and r.get(x) is not None and r[metric] >= 0]
            if not pts:
                continue
            xs, ys = zip(*pts)
            kind = metric.split('_')[0]
            # 'bbox'/'segm' for the headline AP, the full key for AP50 etc.
            short = kind if metric in ('bbox_mAP', 'segm_mAP') else metric
            ax.plot(xs, ys, _METRIC_STYLES.get(kind, ':'), color=color, marker='o',
                    markersize=3, label=f'{label} ({short})')
            series.append(dict(label=label, metric=metric, x=list(xs), y=list(ys)))
        drops = _lr_drop_positions(records, x)
        markers[label] = drops
        for pos in drops:
            ax.axvline(pos, color=color, linestyle=':', linewidth=1, alpha=0.7)
    if not series:
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
    save_figure(fig, out_path)
    if out_path.endswith('.png'):
        svg = out_path[:-4] + '.svg'
        save_figure(fig, svg)
        written.append(svg)
    plt.close(fig)
    if data_path:
        atomic_write_text(data_path, json.dumps(dict(x=x, series=series, lr_markers=markers),
                                                indent=1))
        written.append(data_path)
    return CurvePlot(files=written, series=series, lr_markers=markers)


def plot_runs(runs: Dict[str, List[dict]],
              out_path: str,
              x: str = 'iter',
              metrics: Sequence[str] = ('bbox_mAP', 'segm_mAP'),
              title: Optional[str] = None) -> List[str]:
    """:func:`plot_curves`, returning only the files written (the original API)."""
    return plot_curves(runs, out_path, x=x, metrics=metrics, title=title).files
