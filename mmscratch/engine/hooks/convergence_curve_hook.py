"""``ConvergenceCurveHook``: AP against iterations, as in the paper's Figure 1.

When it runs: ``before_train`` (plans the evaluation points, reconciles the
curve file with the iteration a resumed run starts from), ``after_train_iter``
(runs the validation loop at planned points the train loop would not already
validate at) and ``after_val_epoch`` (records the metrics).

What it changes: nothing in training. It writes ``curve.jsonl`` (one JSON
record per evaluation: iteration, images seen, wall time, LR steps, COCO
AP/AP50/AP75/APs/APm/APl for bbox and segm), ``curve_meta.json`` and
``curve.png``/``curve.svg`` in the work dir, on rank 0.

Resume: records after the iteration a run resumes from are dropped (they are
re-evaluated when training passes them again), and a planned point equal to
the resume iteration that has no record (a crash between the checkpoint and
its evaluation) is evaluated before training continues: no duplicates, no gaps.
"""
from __future__ import annotations

import json
import os.path as osp
import time
from typing import List, Optional, Sequence

from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ...utils.atomic_io import atomic_write_text
from ...utils.run_files import CURVE_FILE, append_record, read_curve, write_curve
from ...visualization.curves import PLOT_FILE, plot_runs
from ..runner.scratch_loop import images_per_device

METRIC_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


def spread_eval_points(total: int, steps: Sequence[int], num_points: int) -> List[int]:
    """At most ``num_points`` iterations in ``[1, total]``, denser at the LR drops.

    The last point is always ``total``. Each LR drop, while the budget allows,
    gets two: the iteration it happens at (the AP before the drop) and one a
    quarter of the way to the next drop or the end (the jump it causes). The
    rest are spread evenly.
    """
    if total <= 0 or num_points <= 0:
        raise ValueError('total and num_points must be > 0')
    steps = sorted(s for s in steps if 0 < s < total)
    steps = steps[:max(0, (num_points - 1) // 2)]  # drops that get their pair
    bounds = steps + [total]
    points = {total}
    for s, nxt in zip(steps, bounds[1:]):
        points.add(s)
        points.add(min(total, s + max(1, round((nxt - s) / 4))))
    uniform = num_points - len(points)
    for i in range(1, uniform + 1):
        points.add(max(1, round(total * i / (uniform + 1))))
    return sorted(points)


@HOOKS.register_module()
class ConvergenceCurveHook(Hook):
    """Evaluate at chosen iterations and keep the convergence curve on disk.

    Args:
        eval_iters: iterations (completed-iteration counts at the real batch)
            to evaluate at. Mutually exclusive with ``num_points``.
        num_points: number of points spread over the schedule, denser near
            the LR drops (see :func:`spread_eval_points`). Default when
            neither is given: 8.
        metric_prefix: prefix of the evaluator's keys (``coco/`` for CocoMetric).
        plot: redraw ``curve.png``/``.svg`` after each evaluation.
    """

    priority = 'LOW'

    def __init__(self,
                 eval_iters: Optional[Sequence[int]] = None,
                 num_points: Optional[int] = None,
                 metric_prefix: str = 'coco/',
                 plot: bool = True):
        if eval_iters is not None and num_points is not None:
            raise ValueError('give eval_iters or num_points, not both')
        if eval_iters is not None and any(int(i) <= 0 for i in eval_iters):
            raise ValueError(f'eval_iters must be positive, got {eval_iters}')
        self.eval_iters = sorted({int(i) for i in eval_iters}) if eval_iters else None
        self.num_points = 8 if eval_iters is None and num_points is None else num_points
        self.metric_prefix = metric_prefix
        self.plot = plot
        self.points: List[int] = []
        self.lr_steps: List[int] = []
        self._pending_iter: Optional[int] = None
        self._wall_offset = 0.0
        self._t_start = None
        self._active = False

    # ------------------------------------------------------------------ paths
    @staticmethod
    def curve_file(runner) -> str:
        return osp.join(runner.work_dir, CURVE_FILE)

    # ------------------------------------------------------------------ hooks
    def before_train(self, runner) -> None:
        loop = runner.train_loop
        total = loop.max_iters
        schedule = getattr(loop, 'schedule', None)
        self.lr_steps = list(schedule.steps) if schedule is not None else []
        if self.eval_iters is not None:
            self.points = [i for i in self.eval_iters if i <= total]
        else:
            self.points = spread_eval_points(total, self.lr_steps, self.num_points)
        self._batch = images_per_device(loop.dataloader) * get_world_size()
        self._active = True
        start = runner.iter
        kept: List[dict] = []
        path = self.curve_file(runner)
        if osp.isfile(path):
            records = read_curve(path)
            kept = [r for r in records if r['iter'] <= start]
            if is_main_process() and len(kept) != len(records):
                write_curve(path, kept)
                runner.logger.info(
                    f'ConvergenceCurveHook: dropped {len(records) - len(kept)} curve '
                    f'point(s) after iteration {start}; they will be evaluated again')
        self._wall_offset = kept[-1]['wall_time_s'] if kept else 0.0
        self._t_start = time.time()
        if is_main_process():
            meta = dict(config_name=osp.splitext(osp.basename(runner.cfg.filename or 'run'))[0]
                        if getattr(runner.cfg, 'filename', None) else 'run',
                        max_iters=total, lr_steps=self.lr_steps, batch_size=self._batch,
                        eval_points=self.points)
            atomic_write_text(osp.join(runner.work_dir, 'curve_meta.json'),
                              json.dumps(meta, indent=1))
        runner.logger.info(f'ConvergenceCurveHook: evaluating at iterations {self.points}')
        recorded = {r['iter'] for r in kept}
        if start > 0 and start in self.points and start not in recorded:
            self._evaluate(runner, start)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1
        if done in self.points and not self._loop_validates_at(runner, done):
            self._evaluate(runner, done)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if not self._active or metrics is None:
            return  # a standalone runner.val()/test(), not part of training
        iteration = self._pending_iter if self._pending_iter is not None else runner.iter
        record = dict(
            iter=int(iteration),
            images_seen=self._images_seen(runner, iteration),
            wall_time_s=round(self._wall_offset + time.time() - self._t_start, 2),
            lr_steps=self.lr_steps)
        for kind in ('bbox', 'segm'):
            for key in METRIC_KEYS:
                value = metrics.get(f'{self.metric_prefix}{kind}_{key}')
                if value is not None:
                    record[f'{kind}_{key}'] = float(value)
        if is_main_process():
            path = self.curve_file(runner)
            append_record(path, record)
            if self.plot:
                self._plot(runner, path)

    def after_train(self, runner) -> None:
        self._active = False

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _loop_validates_at(runner, done: int) -> bool:
        loop = runner.train_loop
        if runner.val_loop is None:
            return False
        return done >= loop.val_begin and (done % loop.val_interval == 0
                                           or done == loop.max_iters)

    def _evaluate(self, runner, iteration: int) -> None:
        self._pending_iter = iteration
        try:
            runner.val_loop.run()
        finally:
            self._pending_iter = None
            runner.model.train()

    def _images_seen(self, runner, iteration: int) -> int:
        counted = runner.message_hub.get_info('data_seen/images')
        if counted is not None:
            return int(counted)
        return int(iteration) * self._batch

    def _plot(self, runner, path: str) -> None:
        try:
            records = read_curve(path)
            label = osp.splitext(osp.basename(runner.cfg.filename))[0] \
                if getattr(runner.cfg, 'filename', None) else 'run'
            plot_runs({label: records}, osp.join(runner.work_dir, PLOT_FILE))
        except ValueError as exc:  # nothing plottable yet (e.g. AP -1)
            runner.logger.warning(f'ConvergenceCurveHook: no plot yet ({exc})')
