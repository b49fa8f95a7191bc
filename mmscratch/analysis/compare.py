"""The paper's tables from a set of work dirs: scratch vs pretrained, per schedule.

A run is a work dir written by ``tools/train.py``. Work dirs come from
colleagues and downloads, so nothing in one is executed: the config MMEngine
dumps there (a ``.py`` file) is never read. What is read, as validated JSON
(:mod:`mmscratch.utils.run_files`):

* its name: ``run_info.json``'s ``config_name`` (written by ``RunInfoHook``
  at the start of training), else ``curve_meta.json``'s
  (``ConvergenceCurveHook``), else the directory name; a name that could
  act as a path is ignored;
* whether it is the scratch or the pretrained arm: ``run_info.json``'s
  ``arm`` (decided from the run's live config: a ``Pretrained`` init, a
  ``pretrained=`` path or a ``load_from`` that is not a resume), else the
  name. ``configs/scratch/x.py`` and ``configs/pretrained/x.py`` share a file
  name, so the name alone can mislead;
* its AP: the last record of ``curve.jsonl``, else the last
  ``coco/bbox_mAP``/``coco/segm_mAP`` in ``*/vis_data/scalars.json`` (a run
  without the curve hook). The best AP along the curve is kept too: the
  small-data regimes report it (the peak before overfitting).

Config names of the paper's configs (``mask_rcnn_r50_gn_6x``,
``cascade_mask_rcnn_r101_syncbn_ms_9x``, ``mask_rcnn_r50_gn_10k_scratch``)
are parsed into architecture, depth, norm, augmentation, schedule and data
regime; where one matches a setting of the paper, its number from
:mod:`.paper_reference` is shown beside ours.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from ..recipe.schedule import iters_label
from ..utils.atomic_io import atomic_write_text
from ..utils.run_files import (CURVE_FILE, CURVE_META_FILE, RUN_INFO_FILE, clean_record,
                               read_curve, read_curve_meta, read_run_info, read_text_lines,
                               run_name)
from .config_names import ConfigKey, parse_config_name
from .paper_reference import reference_ap

@dataclasses.dataclass
class RunResult:
    """One run's numbers (AP in percent, ``None`` where not measured)."""

    work_dir: str
    config_name: str
    key: ConfigKey
    arm: str
    schedule: str
    iters: Optional[int] = None
    images_seen: Optional[int] = None
    bbox: Optional[float] = None
    segm: Optional[float] = None
    best_bbox: Optional[float] = None
    best_bbox_iter: Optional[int] = None
    best_segm: Optional[float] = None
    source: str = 'none'
    num_evals: int = 0

    @property
    def reference(self) -> Dict[str, Optional[float]]:
        k = self.key
        return reference_ap(k.arch, k.depth, k.norm, self.arm, schedule=k.schedule,
                            data=k.data, aug=k.aug)

    def as_row(self) -> dict:
        """Flat dict for the CSV (one row per run)."""
        ref = self.reference
        return OrderedDict(
            work_dir=self.work_dir, config_name=self.config_name, model=self.key.model,
            data=self.key.data or '', schedule=self.schedule, arm=self.arm,
            iters=self.iters, images_seen=self.images_seen,
            bbox_mAP=_round(self.bbox), segm_mAP=_round(self.segm),
            best_bbox_mAP=_round(self.best_bbox), best_bbox_iter=self.best_bbox_iter,
            best_segm_mAP=_round(self.best_segm),
            paper_bbox_mAP=ref['bbox'], paper_segm_mAP=ref['segm'], source=self.source)


def _round(value: Optional[float], digits: int = 2) -> Optional[float]:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------- finding
def is_run_dir(path: str) -> bool:
    """A work dir of a training run: a curve, curve meta or MMEngine scalars."""
    return (osp.isfile(osp.join(path, CURVE_FILE))
            or osp.isfile(osp.join(path, RUN_INFO_FILE))
            or osp.isfile(osp.join(path, CURVE_META_FILE))
            or bool(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json'))))


def find_run_dirs(paths: Iterable[str], max_depth: int = 4) -> List[str]:
    """Run dirs among ``paths``: each path itself, or the runs below it.

    A sweep root (``work_root/1k/scratch``, ...) can be passed whole. The
    search does not descend into a run dir (its timestamped log folders are
    not runs) and stops ``max_depth`` levels down.
    """
    found: List[str] = []
    for path in paths:
        if not osp.isdir(path):
            raise FileNotFoundError(f'not a directory: {path}')
        if is_run_dir(path):
            found.append(path)
            continue
        base_depth = path.rstrip(os.sep).count(os.sep)
        for root, dirs, _ in os.walk(path):
            dirs.sort()
            if root.rstrip(os.sep).count(os.sep) - base_depth >= max_depth:
                dirs[:] = []
            if root != path and is_run_dir(root):
                found.append(root)
                dirs[:] = []
    return list(dict.fromkeys(osp.normpath(p) for p in found))


# --------------------------------------------------------------------- reading
def detect_arm(info: dict, name: str = '') -> str:
    """'pretrained' or 'scratch': ``run_info.json``'s arm, else the name, else scratch.

    ``RunInfoHook`` decides the arm from the run's live config (a
    ``Pretrained`` init or ``pretrained=`` path in the model, or a
    ``load_from`` that is not a resume); the name is the fallback for runs
    without it (``configs/scratch/x.py`` and ``configs/pretrained/x.py``
    share a file name, so the name alone can mislead).
    """
    if info.get('arm'):
        return info['arm']
    key = parse_config_name(name) if name else None
    if key is not None and key.arm:
        return key.arm
    return 'scratch'


def schedule_label(info: dict, key: ConfigKey, max_iters: Optional[int]) -> str:
    """'6x' from the name, else run_info's label, else the iterations run."""
    if key.schedule:
        return key.schedule
    if info.get('schedule'):
        return info['schedule']
    return iters_label(max_iters) if max_iters else '?'


def scalar_records(work_dir: str) -> Iterator[dict]:
    """Every record of MMEngine's ``*/vis_data/scalars.json`` files, oldest run first
    (a line cut short by a crash is skipped)."""
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        try:
            lines = read_text_lines(path)
        except OSError:  # a link, or unreadable: not this run's log
            continue
        for line in lines:
            try:
                record = clean_record(json.loads(line))
            except (ValueError, RecursionError):
                continue
            if record is not None:
                yield record


def _scalars_ap(work_dir: str) -> List[dict]:
    """Evaluation records from MMEngine's ``*/vis_data/scalars.json`` files."""
    return [dict(iter=entry.get('step', entry.get('iter')),
                 bbox_mAP=entry.get('coco/bbox_mAP'),
                 segm_mAP=entry.get('coco/segm_mAP'))
            for entry in scalar_records(work_dir)
            if 'coco/bbox_mAP' in entry or 'coco/segm_mAP' in entry]


def _pct(value) -> Optional[float]:
    # pycocotools writes -1 for "not measurable"; that is no AP, not -100 %.
    return None if value is None or value < 0 else 100.0 * float(value)


def load_run(work_dir: str, arm: Optional[str] = None) -> RunResult:
    """Read one run (see the module docstring); ``arm`` overrides detection."""
    info = read_run_info(work_dir)
    meta = read_curve_meta(work_dir)
    config_name = run_name(work_dir)
    key = parse_config_name(config_name)
    max_iters = info.get('max_iters') or meta.get('max_iters')
    result = RunResult(work_dir=work_dir, config_name=config_name, key=key,
                       arm=arm or detect_arm(info, config_name),
                       schedule=schedule_label(info, key, max_iters))

    records: List[dict] = []
    if osp.isfile(osp.join(work_dir, CURVE_FILE)):
        records = read_curve(work_dir)
        result.source = 'curve'
    if not records:
        records = _scalars_ap(work_dir)
        result.source = 'scalars' if records else 'none'
    if not records:
        return result
    last = records[-1]
    result.num_evals = len(records)
    result.iters = last.get('iter')
    result.images_seen = last.get('images_seen')
    result.bbox = _pct(last.get('bbox_mAP'))
    result.segm = _pct(last.get('segm_mAP'))
    scored = [(r['bbox_mAP'], r['iter']) for r in records
              if r.get('bbox_mAP') is not None and r['bbox_mAP'] >= 0]
    if scored:
        best, best_iter = max(scored, key=lambda t: (t[0], -(t[1] or 0)))
        result.best_bbox, result.best_bbox_iter = 100.0 * best, best_iter
    segms = [r['segm_mAP'] for r in records
             if r.get('segm_mAP') is not None and r['segm_mAP'] >= 0]
    if segms:
        result.best_segm = 100.0 * max(segms)
    return result


def load_runs(paths: Iterable[str]) -> List[RunResult]:
    return [load_run(p) for p in find_run_dirs(paths)]


# -------------------------------------------------------------------- tables
def _text(value) -> str:
    """A table cell from a name in someone's work dir: no terminal control
    sequences, no line breaks, no ``|`` that would add a column."""
    return ''.join(c if c.isprintable() else '?' for c in str(value)).replace('|', r'\|')


def _fmt(value: Optional[float]) -> str:
    return '–' if value is None else f'{value:.1f}'


def _cell(values: Sequence[Optional[float]]) -> str:
    """One value, or several runs of the same setting joined with ' / '."""
    return ' / '.join(_fmt(v) for v in values) if values else '–'


def comparison_rows(results: Sequence[RunResult]) -> List[dict]:
    """One row per (model, data regime, schedule), scratch and pretrained side by side.

    A small-data regime is one row whatever the schedules: its two arms run
    different lengths (the paper's 10k: pretrained 60k, scratch 220k).
    """
    groups: 'OrderedDict[tuple, dict]' = OrderedDict()
    for r in sorted(results, key=lambda r: (r.key.model, r.key.data or 0,
                                             _schedule_sort(r.schedule), r.work_dir)):
        gkey = (r.key.model, r.key.data, None if r.key.data else r.schedule)
        row = groups.setdefault(gkey, dict(model=r.key.model, data=r.key.data,
                                           schedules={}, runs={a: [] for a in
                                                               ('scratch', 'pretrained')}))
        row['runs'][r.arm].append(r)
        row['schedules'].setdefault(r.arm, r.schedule)
    rows = []
    for row in groups.values():
        refs = {}
        for arm in ('scratch', 'pretrained'):
            arm_runs = row['runs'][arm]
            refs[arm] = arm_runs[0].reference if arm_runs else _reference_for_row(row, arm)
        if row['data']:
            schedule = ' / '.join(f'{a}: {row["schedules"][a]}' for a in ('scratch', 'pretrained')
                                  if a in row['schedules'])
        else:
            schedule = next(iter(row['schedules'].values()))
        rows.append(dict(model=row['model'], data=row['data'], schedule=schedule,
                         runs=row['runs'], refs=refs))
    return rows


def _reference_for_row(row: dict, arm: str) -> dict:
    """The paper's number for the arm we did not run (so it still shows)."""
    other = row['runs']['scratch'] or row['runs']['pretrained']
    k = other[0].key
    return reference_ap(k.arch, k.depth, k.norm, arm, schedule=k.schedule, data=k.data,
                        aug=k.aug)


def _schedule_sort(label: str):
    """Order schedule labels ('375 it' < '3k it', '2x' < '6x') by length within each unit."""
    m = re.fullmatch(r'([\d.]+)(k?)\s*(it|x|e)?', (label or '').strip())
    if not m:
        return (1, '', float('inf'), label or '')
    return (0, m.group(3) or '', float(m.group(1)) * (1000 if m.group(2) else 1), label)


def to_markdown(results: Sequence[RunResult], title: str = 'Scratch vs ImageNet-pretrained',
                best: bool = False) -> str:
    """The comparison table and the per-run table, as Markdown.

    Args:
        results: the runs.
        title: heading of the comparison.
        best: use the best AP along the curve instead of the last (the
            small-data protocol: the paper reports the peak).
    """
    which = 'best' if best else 'final'
    lines = [f'## {title} (COCO AP %, {which}; paper in parentheses)', '',
             '| model | data | schedule | box AP scratch | box AP pretrained | box Δ '
             '| mask AP scratch | mask AP pretrained |',
             '|---|---|---|---:|---:|---:|---:|---:|']
    for row in comparison_rows(results):
        cells = []
        box = {}
        for metric in ('bbox', 'segm'):
            for arm in ('scratch', 'pretrained'):
                values = [_value(r, metric, best) for r in row['runs'][arm]]
                text = _cell(values)
                ref = row['refs'][arm][metric]
                if ref is not None:
                    text += f' ({ref:.1f})'
                cells.append(text)
                if metric == 'bbox':
                    box[arm] = values
            if metric == 'bbox':
                s, p = box['scratch'], box['pretrained']
                delta = (f'{s[0] - p[0]:+.1f}' if len(s) == 1 and len(p) == 1
                         and s[0] is not None and p[0] is not None else '–')
                cells.append(delta)
        data = f'{row["data"]:,}' if row['data'] else 'full'
        lines.append(f'| {_text(row["model"])} | {data} | {_text(row["schedule"])} | '
                     + ' | '.join(cells) + ' |')
    lines += ['', '## Runs', '',
              '| run | config | arm | schedule | iterations | images seen | box AP '
              '| best box AP (iter) | mask AP | source |',
              '|---|---|---|---|---:|---:|---:|---:|---:|---|']
    for r in results:
        best_txt = (f'{r.best_bbox:.1f} ({r.best_bbox_iter})' if r.best_bbox is not None else '–')
        images = f'{r.images_seen:,}' if r.images_seen is not None else '–'
        iters = r.iters if r.iters is not None else '–'
        lines.append(f'| {_text(r.work_dir)} | {_text(r.config_name)} | {r.arm} '
                     f'| {_text(r.schedule)} | {iters} '
                     f'| {images} | {_fmt(r.bbox)} | {best_txt} | {_fmt(r.segm)} | {r.source} |')
    return '\n'.join(lines) + '\n'


def _value(r: RunResult, metric: str, best: bool) -> Optional[float]:
    if best:
        return r.best_bbox if metric == 'bbox' else r.best_segm
    return r.bbox if metric == 'bbox' else r.segm


def write_csv(results: Sequence[RunResult], path: str) -> None:
    """One row per run (:meth:`RunResult.as_row`), the paper's numbers included."""
    rows = [r.as_row() for r in results]
    fields = list(rows[0].keys()) if rows else list(RunResult.__dataclass_fields__)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    text = io.StringIO(newline='')
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: '' if v is None else v for k, v in row.items()})
    atomic_write_text(path, text.getvalue())  # never through a link planted at PATH
