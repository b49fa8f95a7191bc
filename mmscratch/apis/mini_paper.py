"""The paper's experiment in miniature: pre-training vs from scratch, on real runs.

``tools/mini_paper.py`` (``make mini-paper``) asks the question of "Rethinking
ImageNet Pre-training" at demo scale on a CPU, end to end, with the code a
user runs on their own data -- every training run is a normal
``tools/train.py`` run of the demo config or its pretrained twin, with the
project's hooks:

1. **data**: the shapes detection set (``mmscratch.datasets.shapes``, as
   ``make demo``) and the generated 100-class pre-training set
   (``mmscratch.datasets.pretrain_set``), both deterministic;
2. **pretrain**: the demo backbone trained as a classifier
   (``configs/demo/resnet18_gn_cls_pretrain.py``); ``BackboneExportHook``
   writes ``backbone.pth`` in MMDetection's backbone key layout, which the
   twin ``configs/demo/mask_rcnn_gn_shapes_pretrained.py`` loads through
   ``init_cfg=dict(type='Pretrained', ...)``;
3. **figure1**: scratch vs pretrained at 1/4, 1/2, 1 and 2 x the demo
   schedule (the demo config's own schedule scaled, LR drops at the
   proportional end, checked by ``paper_schedule``), the 1x pair with two
   seeds; AP curves from ``ConvergenceCurveHook``;
4. **small_data**: nested subsets of the shapes training set (the small-data
   sweep's subsets and runs, ``mmscratch.analysis.sweep``), scratch vs
   pretrained per size on the 1/2x schedule; the full set is the figure-1
   1/2x pair (same settings, not trained twice);
5. **report**: the figure (``plot_curves``), the tables (``compare_runs``,
   the sweep's table and plot), Figure 3 (``data_budget`` with the
   pre-training set's numbers instead of ImageNet's) and ``summary.md`` /
   ``summary.json`` with wall and CPU time per stage.

Resumable: a run whose curve reaches its last iteration (the pre-training: whose
``backbone.json`` says it finished) is not trained again; a run interrupted
after a checkpoint continues with ``--resume`` (without it, the command stops
and says so instead of starting the run over). Every run uses the fastest
setting that passed ``tools/lever_check.py`` on the demo before its results
were measured: bf16 (``BF16OptimWrapper``). mmscratch's CPU ops passed later;
``--fast-cpu-ops`` adds them to the detection runs (``FastCPUOpsHook``,
the same function; ``make demo`` is 1.2x faster with them), off by default so that the command
reproduces the published results. ``--toy`` shrinks every stage to a few iterations
(the CI test); ``--dry-run`` prints the plan and writes nothing.
"""
from __future__ import annotations

import dataclasses
import datetime
import glob
import json
import os
import os.path as osp
import re
import resource
import time
from fractions import Fraction
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..analysis.compare import load_run, to_markdown, write_csv
from ..analysis.data_budget import budget_markdown, config_budget, to_json
from ..analysis.pretrain_budget import pretrain_config_budget
from ..analysis.sweep import run_is_complete, write_report
from ..datasets.pretrain_set import (generate_pretrain_dataset,
                                     pretrain_set_is_complete, read_pretrain_params)
from ..datasets.shapes import (dataset_is_complete, generate_shapes_dataset,
                               read_dataset_params)
from ..datasets.subsets import size_tag
from ..recipe.schedule import paper_schedule
from ..utils.atomic_io import atomic_write_text
from ..utils.config_loading import load_config
from ..utils.progress import wants_progress
from ..utils.run_files import read_curve, read_json_file, read_run_info, read_text_lines
from ..visualization.curves import plot_curves
from .cli import ToolParser
from .demo import DEMO_CONFIG, data_root_options
from .launch import train_config
from .small_data_sweep import make_subsets, plan_sweep

TWIN_CONFIG = 'configs/demo/mask_rcnn_gn_shapes_pretrained.py'
PRETRAIN_CONFIG = 'configs/demo/resnet18_gn_cls_pretrain.py'
ARMS = ('scratch', 'pretrained')
BF16 = 'optim_wrapper.type=BF16OptimWrapper'


class MiniPaperError(ValueError):
    """The mini paper cannot go on as asked (the message says why and what to do)."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes of every stage. :data:`FULL` is the 2-hour plan, :data:`TOY` the CI's.

    ``base_schedule`` / ``pretrain_schedule`` of ``None`` take the demo's and
    the pre-training config's own ``train_cfg.schedule``.
    """

    shapes_train: int = 600
    shapes_val: int = 100
    data_seed: int = 0
    pretrain_train: int = 20_000
    pretrain_val: int = 1_000
    pretrain_image_size: int = 64
    pretrain_batch: Optional[int] = None
    pretrain_schedule: Optional[dict] = None
    base_schedule: Optional[dict] = None
    multiples: Tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    seeds: Tuple[int, ...] = (0, 1)
    subset_sizes: Tuple[int, ...] = (60, 200)
    small_data_multiple: float = 0.5
    curve_points: int = 4
    bf16: bool = True
    fast_cpu_ops: bool = False  # detection runs with FastCPUOpsHook (tools/train.py flag)
    detection_options: Tuple[str, ...] = ()
    pretrain_options: Tuple[str, ...] = ()


FULL = Plan()
TOY = Plan(
    shapes_train=24, shapes_val=4, pretrain_train=120, pretrain_val=20,
    pretrain_image_size=64, pretrain_batch=8,
    pretrain_schedule=dict(total_iters=4, drops_before_end=(2, 1), warmup_iters=1),
    base_schedule=dict(total_iters=6, drops_before_end=(4, 2), warmup_iters=1),
    multiples=(0.5, 1.0), subset_sizes=(8,), curve_points=1,
    detection_options=(
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'custom_hooks.0.sync_interval=1',
        # one checkpoint, at the end: each save formats the config text (yapf, seconds)
        'default_hooks.checkpoint.interval=6',
        'custom_hooks.1.plot=False',  # the report draws the figure from every curve
        # an untrained model still returns boxes, so every evaluation has an AP
        'model.test_cfg.rcnn.score_thr=0.0', 'model.test_cfg.rcnn.max_per_img=20'),
    pretrain_options=(
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'default_hooks.logger.interval=1',
        'log_processor.window_size=1', 'default_hooks.checkpoint.interval=4',
        'train_cfg.base_batch_size=8', 'auto_scale_lr.base_batch_size=8'))


def multiple_label(multiple: float) -> str:
    """0.25 -> '1/4x', 1 -> '1x', 2 -> '2x'."""
    frac = Fraction(multiple).limit_denominator(16)
    return f'{frac.numerator}x' if frac.denominator == 1 else \
        f'{frac.numerator}/{frac.denominator}x'


def scaled_schedule(base: dict, multiple: float) -> dict:
    """``base`` (a ``train_cfg.schedule``) at ``multiple`` x its length.

    Length and LR drops (counted back from the end) scale together, so the
    drops sit at the same fraction of every schedule (the demo's 1500
    iterations with drops 300 and 100 before the end: 375 with 75 and 25 at
    1/4x); the warm-up keeps its length, as the paper's does, cut to the first
    drop where a schedule is shorter. :func:`paper_schedule` checks the result.
    """
    if multiple <= 0:
        raise MiniPaperError(f'schedule multiple must be > 0, got {multiple}')
    total = int(round(base['total_iters'] * multiple))
    drops = [int(round(d * multiple)) for d in base.get('drops_before_end', ())]
    first_step = total - max(drops) if drops else total
    warmup = min(int(base.get('warmup_iters', 0)), max(0, first_step))
    try:
        paper_schedule(total_iters=total, drops_before_end=drops, warmup_iters=warmup,
                       warmup_factor=base.get('warmup_factor', 1.0 / 3))
    except ValueError as exc:
        raise MiniPaperError(f'{multiple_label(multiple)} of {base}: {exc}') from None
    return dict(total_iters=total, drops_before_end=drops, warmup_iters=warmup)


def curve_points(plan: Plan, multiple: float) -> int:
    """AP evaluations of a run: ``plan.curve_points`` at 1x, growing with the
    square root of the length (1/4x: 3, 1/2x: 3, 1x: 4, 2x: 6 in the full plan)."""
    return max(min(3, plan.curve_points), int(round(plan.curve_points * multiple ** 0.5)))


def schedule_options(schedule: dict) -> List[str]:
    drops = ','.join(str(d) for d in schedule['drops_before_end'])
    return [f'train_cfg.schedule.total_iters={schedule["total_iters"]}',
            f'train_cfg.schedule.drops_before_end=[{drops}]',
            f'train_cfg.schedule.warmup_iters={schedule["warmup_iters"]}',
            f'train_cfg.val_interval={schedule["total_iters"]}']


@dataclasses.dataclass
class Run:
    """One detection run of the mini paper."""

    stage: str
    arm: str
    multiple: float
    seed: int
    size: int
    config: str
    work_dir: str
    options: List[str]
    flags: Tuple[str, ...] = ()

    @property
    def label(self) -> str:
        text = f'{self.arm} {multiple_label(self.multiple)}'
        if self.stage == 'small_data':
            text += f', {self.size} images'
        return text + f', seed {self.seed}'

    def command(self) -> str:
        return ' '.join(['python tools/train.py', self.config, *self.flags, '--work-dir',
                         self.work_dir, '--cfg-options', *(_quote(o) for o in self.options)])


def _quote(arg: str) -> str:
    return arg if all(c.isalnum() or c in '/._-=:[],' for c in arg) else repr(arg)


class MiniPaper:
    """The plan, its runs and their outputs under ``work_root``."""

    def __init__(self, plan: Plan, work_root: str, data_root: str, pretrain_root: str,
                 resume: bool = False, in_process: bool = False,
                 log: Callable[[str], None] = print):
        self.plan = plan
        self.work_root = osp.abspath(work_root)
        self.data_root = osp.abspath(data_root)
        self.pretrain_root = osp.abspath(pretrain_root)
        self.resume = resume
        self.in_process = in_process
        self.log = log
        self.pretrain_dir = osp.join(self.work_root, 'pretrain')
        self.backbone = osp.join(self.pretrain_dir, 'backbone.pth')
        # a sweep on another schedule gets a folder of its own, so that the finished
        # runs of both stay (and --resume adds one sweep beside the other)
        default_sweep = plan.small_data_multiple == Plan.small_data_multiple
        self.small_root = osp.join(self.work_root, 'small_data' + (
            '' if default_sweep
            else '_' + multiple_label(plan.small_data_multiple).replace('/', '_')))
        base = plan.base_schedule or dict(load_config(DEMO_CONFIG).train_cfg.schedule)
        self.base_schedule = dict(base)
        self.schedules = {m: scaled_schedule(base, m) for m in plan.multiples}
        if 1.0 not in self.schedules or plan.small_data_multiple not in self.schedules:
            raise MiniPaperError(
                f'the plan needs the 1x schedule and the small-data runs\' '
                f'({multiple_label(plan.small_data_multiple)}) among --multiples')
        pre_cfg = load_config(PRETRAIN_CONFIG)
        self.pretrain_schedule = dict(plan.pretrain_schedule or pre_cfg.train_cfg.schedule)
        self.stages: Dict[str, dict] = {}

    # ------------------------------------------------------------- options
    def _common(self, seed: int, points: int) -> List[str]:
        return [*data_root_options(self.data_root), f'randomness.seed={seed}',
                f'custom_hooks.1.num_points={points}', *([BF16] if self.plan.bf16 else []),
                *self.plan.detection_options]

    def _detection_flags(self) -> Tuple[str, ...]:
        return ('--fast-cpu-ops',) if self.plan.fast_cpu_ops else ()

    def _arm_options(self, arm: str) -> List[str]:
        return [f'model.backbone.init_cfg.checkpoint={self.backbone}'] if arm == 'pretrained' \
            else []

    def pretrain_options(self) -> List[str]:
        root = self.pretrain_root.rstrip('/') + '/'
        options = [f'data_root={root}', f'train_dataloader.dataset.data_root={root}',
                   f'val_dataloader.dataset.data_root={root}',
                   f'test_dataloader.dataset.data_root={root}',
                   'randomness.seed=0', *([BF16] if self.plan.bf16 else [])]
        if self.plan.pretrain_batch:
            options.append(f'train_dataloader.batch_size={self.plan.pretrain_batch}')
        if self.plan.pretrain_schedule:
            options += schedule_options(scaled_schedule(self.plan.pretrain_schedule, 1.0))
        return options + list(self.plan.pretrain_options)

    def figure1_runs(self) -> List[Run]:
        runs = []
        for multiple, schedule in self.schedules.items():
            seeds = self.plan.seeds if multiple == 1.0 else self.plan.seeds[:1]
            for seed in seeds:
                for arm in ARMS:
                    work_dir = osp.join(self.work_root, 'figure1', multiple_label(multiple)
                                        .replace('/', '_'), f'{arm}_seed{seed}')
                    options = [*self._common(seed, curve_points(self.plan, multiple)),
                               *schedule_options(schedule), *self._arm_options(arm),
                               f'experiment_name=mini_paper_{arm}_{multiple:g}x_seed{seed}']
                    runs.append(Run('figure1', arm, multiple, seed, self.plan.shapes_train,
                                    DEMO_CONFIG if arm == 'scratch' else TWIN_CONFIG,
                                    work_dir, options, self._detection_flags()))
        return runs

    def small_data_runs(self) -> List[Run]:
        seed, multiple = self.plan.seeds[0], self.plan.small_data_multiple
        shared = [*self._common(seed, curve_points(self.plan, multiple)),
                  *schedule_options(self.schedules[multiple])]
        planned = plan_sweep(DEMO_CONFIG, TWIN_CONFIG, self.plan.subset_sizes,
                                       self.small_root, cfg_options=shared,
                                       cfg_options_pretrained=self._arm_options('pretrained'))
        return [Run('small_data', r.arm, multiple, seed, r.size, r.config, r.work_dir,
                    list(r.cfg_options), self._detection_flags()) for r in planned]

    # ------------------------------------------------------------- stages
    def _stage(self, name: str, body: Callable[[], dict]) -> dict:
        t0 = time.time()
        cpu0 = _cpu_seconds()
        self.log(f'== {name}')
        result = body() or {}
        result.update(wall_s=round(time.time() - t0, 1), cpu_s=round(_cpu_seconds() - cpu0, 1))
        self.stages[name] = result
        return result

    def make_data(self) -> dict:
        p = self.plan
        made = []
        if self._ensure_dataset(
                'shapes dataset', self.data_root, '--data-root (or delete it)',
                dict(num_train=p.shapes_train, num_val=p.shapes_val, image_size=128,
                     seed=p.data_seed, min_instances=1, max_instances=6),
                dataset_is_complete, read_dataset_params, generate_shapes_dataset):
            made.append('shapes')
        if self._ensure_dataset(
                'pre-training set', self.pretrain_root, '--pretrain-data-root',
                dict(num_train=p.pretrain_train, num_val=p.pretrain_val,
                     image_size=p.pretrain_image_size, seed=p.data_seed),
                pretrain_set_is_complete, read_pretrain_params, generate_pretrain_dataset):
            made.append('pretrain_set')
        return dict(generated=made)

    def _ensure_dataset(self, what: str, root: str, option: str, wanted: dict,
                        is_complete: Callable[[str], bool], read_params: Callable[[str], dict],
                        generate: Callable[..., object]) -> bool:
        """Generate ``what`` in ``root`` unless a complete one is there; True if generated.

        A complete set made with other parameters is refused: its numbers would not be this
        plan's.
        """
        if is_complete(root):
            found = read_params(root)
            if found != wanted:
                raise MiniPaperError(
                    f'{root} holds a {what} made with {found}, not the {wanted} this plan '
                    f'needs; use another {option}')
            return False
        self.log(f'generating the {what} in {root}')
        generate(root, **wanted, progress=wants_progress())
        return True

    def _train(self, config: str, work_dir: str, options: Sequence[str], label: str,
               complete: Callable[[str], bool], flags: Sequence[str] = ()) -> str:
        if complete(work_dir):
            self.log(f'[{label}] complete, not trained again: {work_dir}')
            return 'skipped'
        interrupted = osp.isfile(osp.join(work_dir, 'last_checkpoint'))
        if interrupted and not self.resume:
            raise MiniPaperError(
                f'{label}: {work_dir} holds an interrupted run; pass --resume to continue it '
                '(or delete that work dir to train it again from the start)')
        extra = ['--resume', '--allow-fresh-start'] if interrupted else []
        self.log(f'[{label}] {"resuming" if extra else "training"} {config} -> {work_dir}')
        try:
            train_config(config, work_dir, options, label, in_process=self.in_process,
                         extra_args=[*flags, *extra])
        except RuntimeError as exc:  # a failed run: its log's end is in the message
            raise MiniPaperError(str(exc)) from None
        return 'resumed' if extra else 'trained'

    def _pretrain_complete(self, work_dir: str) -> bool:
        """``backbone.json`` is written after the last iteration of the run that
        ``run_info.json`` describes (the schedule as the loop resolved it)."""
        meta = read_json_file(osp.join(work_dir, 'backbone.json'))
        total = read_run_info(work_dir).get('max_iters')
        return (isinstance(meta, dict) and osp.isfile(self.backbone) and total is not None
                and meta.get('iterations') == total)

    def pretrain(self) -> dict:
        status = self._train(PRETRAIN_CONFIG, self.pretrain_dir, self.pretrain_options(),
                             'pretrain', self._pretrain_complete)
        meta = read_json_file(osp.join(self.pretrain_dir, 'backbone.json'))
        if not isinstance(meta, dict) or not osp.isfile(self.backbone):
            raise MiniPaperError(f'pre-training ended without {self.backbone}')
        return dict(status=status, trained=int(status != 'skipped'), backbone=self.backbone,
                    meta=meta)

    def train_runs(self, runs: Sequence[Run]) -> dict:
        statuses = {}
        for run in runs:
            statuses[run.work_dir] = self._train(run.config, run.work_dir, run.options,
                                                 run.label, run_is_complete, run.flags)
        for run in runs:
            self.check_arm(run)
        return dict(runs={k: v for k, v in statuses.items()},
                    trained=sum(v != 'skipped' for v in statuses.values()))

    def small_data(self, runs: Sequence[Run]) -> dict:
        """The sweep's nested subsets of the training set, then its runs."""
        ann_file = osp.join(self.data_root, 'annotations', 'instances_train.json')
        subsets = make_subsets(ann_file, self.plan.subset_sizes, self.small_root,
                                         seed=self.plan.data_seed)
        result = self.train_runs(runs)
        result['subsets'] = {size_tag(k): v for k, v in subsets.items()}
        return result

    def refuse_stale_finetunes(self, runs: Sequence[Run]) -> None:
        """A pre-training trained now makes finished pretrained runs stale: they were
        fine-tuned from an earlier backbone and would be reported as from this one."""
        stale = [r.work_dir for r in runs
                 if r.arm == 'pretrained' and run_is_complete(r.work_dir)]
        if stale:
            raise MiniPaperError(
                f'the pre-training was trained again, but {len(stale)} pretrained run(s) '
                f'were fine-tuned from an earlier backbone, e.g. {stale[0]}; delete them (or '
                'the whole work root) so that they are trained from this one')

    def check_arm(self, run: Run) -> None:
        """A wrong number is worse than an error: each run is the arm, schedule and seed
        its row claims (a finished run of another plan in the same work root is not
        reported as this plan's)."""
        info = read_run_info(run.work_dir)
        sources = info.get('pretrained_sources') or []
        if info.get('arm') != run.arm:
            raise MiniPaperError(f'{run.work_dir}: run_info.json says {info.get("arm")!r}, '
                                 f'the plan says {run.arm!r}')
        if run.arm == 'pretrained' and not any(self.backbone in s for s in sources):
            raise MiniPaperError(f'{run.work_dir}: pretrained from {sources}, not from '
                                 f'{self.backbone}')
        planned = dict(max_iters=self.schedules[run.multiple]['total_iters'], seed=run.seed)
        for field, want in planned.items():
            if info.get(field) != want:
                raise MiniPaperError(
                    f'{run.work_dir}: run_info.json says {field}={info.get(field)!r}, the plan '
                    f'says {want!r} ({run.label}); delete that run or use another --work-root')

    # ------------------------------------------------------------- reports
    def report(self, fig_runs: Sequence[Run], small_runs: Sequence[Run]) -> dict:
        out = {}
        curves = {run.label: read_curve(run.work_dir) for run in fig_runs}
        for metric, name in (('bbox_mAP', 'figure1'), ('segm_mAP', 'figure1_mask')):
            plot = plot_curves(curves, osp.join(self.work_root, f'{name}.png'), x='iter',
                               metrics=[metric],
                               title=f'{"Box" if metric == "bbox_mAP" else "Mask"} AP on the '
                               'shapes val set: from scratch vs pre-trained (dotted: LR drops)',
                               data_path=osp.join(self.work_root, f'{name}.json'))
            out[name] = plot.files
        results = [load_run(run.work_dir) for run in fig_runs]
        compare_md = osp.join(self.work_root, 'compare.md')
        atomic_write_text(compare_md, to_markdown(
            results, title='Scratch vs pre-trained on the generated data, per schedule'))
        write_csv(results, osp.join(self.work_root, 'compare.csv'))
        out['compare'] = [compare_md, osp.join(self.work_root, 'compare.csv')]

        # the full training set: the figure-1 pair of the small-data runs' schedule
        full = {run.arm: run for run in fig_runs
                if run.multiple == self.plan.small_data_multiple
                and run.seed == self.plan.seeds[0]}
        sweep_results = {(run.size, run.arm): load_run(run.work_dir, arm=run.arm)
                         for run in small_runs}
        for arm, run in full.items():
            sweep_results[(self.plan.shapes_train, arm)] = load_run(run.work_dir, arm=arm)
        out['small_data'] = write_report(sweep_results, self.small_root)

        out['data_budget'] = self.data_budget()
        return out

    def data_budget(self) -> List[str]:
        longest = max(self.schedules)
        pre_cfg = load_config(PRETRAIN_CONFIG, _options_dict(self.pretrain_options()))
        stats, images = pretrain_config_budget(pre_cfg)
        cfg = load_config(DEMO_CONFIG, _options_dict(data_root_options(self.data_root)))
        scratch = str(self.schedules[longest]['total_iters'])
        finetune = str(self.schedules[1.0]['total_iters'])
        budget = config_budget(cfg, schedule=scratch, finetune_schedule=finetune,
                               ann_file=osp.join(self.data_root, 'annotations',
                                                 'instances_train.json'),
                               pretrain=stats, pretrain_epochs=images / stats.images)
        md = osp.join(self.work_root, 'data_budget.md')
        atomic_write_text(md, budget_markdown(
            budget, f'{multiple_label(1.0)}, {finetune} it',
            f'{multiple_label(longest)}, {scratch} it', epochs=True,
            title='Data seen (Figure 3): pre-training + fine-tuning vs from scratch'))
        js = osp.join(self.work_root, 'data_budget.json')
        atomic_write_text(js, to_json(budget))
        self.budget = budget
        return [md, js]

    # ------------------------------------------------------------- driver
    def dry_run(self) -> List[str]:
        lines = [f'data: shapes {self.plan.shapes_train}/{self.plan.shapes_val} in '
                 f'{self.data_root}; pre-training set {self.plan.pretrain_train}/'
                 f'{self.plan.pretrain_val} at {self.plan.pretrain_image_size} px in '
                 f'{self.pretrain_root}',
                 'python tools/train.py ' + ' '.join(
                     [PRETRAIN_CONFIG, '--work-dir', self.pretrain_dir, '--cfg-options',
                      *(_quote(o) for o in self.pretrain_options())])]
        lines += [run.command() for run in self.figure1_runs() + self.small_data_runs()]
        for line in lines:
            self.log(line)
        return lines

    def run(self) -> dict:
        os.makedirs(self.work_root, exist_ok=True)
        t0 = time.time()
        fig_runs, small_runs = self.figure1_runs(), self.small_data_runs()
        self._stage('data', self.make_data)
        pretrain = self._stage('pretrain', self.pretrain)
        if pretrain['status'] != 'skipped':
            self.refuse_stale_finetunes(fig_runs + small_runs)
        self._stage('figure1', lambda: self.train_runs(fig_runs))
        self._stage('small_data', lambda: self.small_data(small_runs))
        # a resumed command times only what it ran; the runs' own logs time all of it
        for name, dirs in (('pretrain', [self.pretrain_dir]),
                           ('figure1', [r.work_dir for r in fig_runs]),
                           ('small_data', [r.work_dir for r in small_runs])):
            self.stages[name]['logged_s'] = round(sum(map(logged_run_seconds, dirs)), 1)
        files = self._stage('report', lambda: dict(files=self.report(fig_runs, small_runs)))
        summary = self.summary(fig_runs, small_runs, pretrain['meta'], files['files'],
                               round(time.time() - t0, 1))
        return summary

    def summary(self, fig_runs, small_runs, pretrain_meta: dict, files: dict,
                wall_s: float) -> dict:
        fig_rows = figure1_rows(fig_runs)
        sweep_rows = _read_text(osp.join(self.small_root, 'sweep.json'), json.loads)
        summary = dict(
            plan=dataclasses.asdict(self.plan), work_root=self.work_root,
            schedules={multiple_label(m): s for m, s in self.schedules.items()},
            pretrain=dict(backbone=self.backbone, **{k: pretrain_meta.get(k) for k in (
                'iterations', 'batch_size', 'images_seen', 'train_images', 'num_classes',
                'val_metrics', 'sha256')}),
            figure1=fig_rows, small_data=sweep_rows,
            data_budget=dict(ratio=self.budget['ratio'],
                             pretraining=self.budget['pretraining'],
                             finetuning=self.budget['finetuning'],
                             scratch=self.budget['scratch']),
            stages=self.stages, wall_s=wall_s, files=files,
            runs=[dict(stage=r.stage, arm=r.arm, schedule=multiple_label(r.multiple),
                       seed=r.seed, images=r.size, work_dir=r.work_dir, command=r.command())
                  for r in list(fig_runs) + list(small_runs)])
        atomic_write_text(osp.join(self.work_root, 'summary.json'), json.dumps(summary, indent=1))
        atomic_write_text(osp.join(self.work_root, 'summary.md'), summary_markdown(
            summary, _read_text(osp.join(self.small_root, 'sweep.md')),
            _read_text(osp.join(self.work_root, 'data_budget.md'))))
        self.log(f'wrote {osp.join(self.work_root, "summary.md")} (and summary.json, '
                 f'figure1.png, compare.md, {osp.relpath(self.small_root, self.work_root)}'
                 '/sweep.md, data_budget.md)')
        return summary


_LOG_STAMP = re.compile(r'(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) - ')


def logged_run_seconds(work_dir: str) -> float:
    """Seconds a run spent, from the first to the last stamped line of each of its
    MMEngine logs (``WORK_DIR/<timestamp>/<timestamp>.log``, one per start), summed:
    the time of every attempt, across interruptions and resumes."""
    total = 0.0
    for log in sorted(glob.glob(osp.join(glob.escape(work_dir), '[0-9]*_[0-9]*',
                                         '[0-9]*_[0-9]*.log'))):
        try:
            lines = read_text_lines(log)
        except (OSError, ValueError):  # a link, a FIFO, a file too large: not a run's log
            continue
        stamps = [m.group(1) for m in map(_LOG_STAMP.match, lines) if m]
        if not stamps:
            continue
        try:
            first, last = (datetime.datetime.strptime(stamps[i], '%Y/%m/%d %H:%M:%S')
                           for i in (0, -1))
        except ValueError:  # a stamp that is no date (month 13, ...): no time from this log
            continue
        total += max((last - first).total_seconds(), 0.0)  # a clock set back adds nothing
    return total


def _read_text(path: str, parse: Callable[[str], object] = str):
    """A report file this command just wrote."""
    with open(path, encoding='utf-8') as f:
        return parse(f.read())


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _options_dict(options: Sequence[str]) -> dict:
    """``key=value`` strings as MMEngine's ``DictAction`` parses them."""
    from mmengine.config import DictAction
    out = {}
    for item in options:
        key, value = item.split('=', 1)
        out[key] = DictAction._parse_iterable(value)
    return out


def _ap(work_dir: str) -> dict:
    r = load_run(work_dir)
    return dict(bbox=r.bbox, segm=r.segm, best_bbox=r.best_bbox, iters=r.iters)


def figure1_rows(runs: Sequence[Run]) -> List[dict]:
    """Per schedule: final box/mask AP (%) of each arm and seed, and the gap."""
    rows = []
    for multiple in sorted({r.multiple for r in runs}):
        row = dict(schedule=multiple_label(multiple), multiple=multiple)
        for arm in ARMS:
            arm_runs = sorted((r for r in runs if r.multiple == multiple and r.arm == arm),
                              key=lambda r: r.seed)
            aps = [_ap(r.work_dir) for r in arm_runs]
            row[arm] = dict(seeds=[r.seed for r in arm_runs],
                            bbox=[a['bbox'] for a in aps], segm=[a['segm'] for a in aps],
                            iters=aps[0]['iters'] if aps else None)
        gaps = [s - p for s, p in zip(row['scratch']['bbox'], row['pretrained']['bbox'])
                if s is not None and p is not None]
        row['gap_bbox'] = gaps
        rows.append(row)
    return rows


def _cell(values: Sequence[Optional[float]]) -> str:
    shown = ['–' if v is None else f'{v:.1f}' for v in values]
    if len(values) > 1 and all(v is not None for v in values):
        mean = sum(values) / len(values)
        return ' / '.join(shown) + f' (mean {mean:.1f}, spread {max(values) - min(values):.1f})'
    return ' / '.join(shown) or '–'


def summary_markdown(summary: dict, sweep_md: str, budget_md: str) -> str:
    pre = summary['pretrain']
    metrics = pre.get('val_metrics') or {}
    logged = sum(stage.get('logged_s', 0) for stage in summary['stages'].values())
    lines = ['# The mini paper: pre-training vs from scratch on the generated data', '',
             f'Work root: `{summary["work_root"]}`; this call of the command took '
             f'{summary["wall_s"] / 60:.1f} min wall; the runs\' logs add up to '
             f'{logged / 60:.1f} min of training and evaluation, every attempt included.', '',
             '## Wall and CPU time per stage', '',
             'Wall and CPU: this call (a resumed call skips finished runs); logged: the '
             'runs\' own logs, summed over interruptions and resumes.', '',
             '| stage | wall (min) | CPU (min, all processes) | runs trained | logged (min) |',
             '|---|---:|---:|---:|---:|']
    for name, stage in summary['stages'].items():
        shown = f'{stage["logged_s"] / 60:.1f}' if 'logged_s' in stage else '–'
        lines.append(f'| {name} | {stage["wall_s"] / 60:.1f} | {stage["cpu_s"] / 60:.1f} '
                     f'| {stage.get("trained", "–")} | {shown} |')
    lines += ['', '## Pre-training (the stand-in for ImageNet)', '',
              f'{pre["iterations"]} iterations x {pre["batch_size"]} images = '
              f'{pre["images_seen"]:,} images seen ({pre["images_seen"] / pre["train_images"]:.1f}'
              f' epochs of {pre["train_images"]:,} images, {pre["num_classes"]} classes); '
              f'val top-1 {100 * metrics.get("cls/top1", float("nan")):.1f}%, top-5 '
              f'{100 * metrics.get("cls/top5", float("nan")):.1f}%. Backbone: `{pre["backbone"]}`'
              f' (sha256 {str(pre["sha256"])[:12]}...).', '',
              '## Figure 1 in miniature: final AP (%) per schedule', '',
              'Several seeds are listed `a / b`; gap = scratch - pretrained box AP.', '',
              '| schedule | iterations | box AP scratch | box AP pretrained | gap (box) '
              '| mask AP scratch | mask AP pretrained |', '|---|---:|---:|---:|---:|---:|---:|']
    for row in summary['figure1']:
        s, p = row['scratch'], row['pretrained']
        gaps = ' / '.join(f'{g:+.1f}' for g in row['gap_bbox']) or '–'
        lines.append(f'| {row["schedule"]} | {s["iters"] or "–"} | {_cell(s["bbox"])} '
                     f'| {_cell(p["bbox"])} | {gaps} | {_cell(s["segm"])} | {_cell(p["segm"])} |')
    lines += ['', '![box AP against iterations](figure1.png)', '', sweep_md, budget_md]
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------------- command line
def build_parser() -> ToolParser:
    parser = ToolParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-root', default='work_dirs/mini_paper',
                        help='runs, figure, tables and summary go here')
    parser.add_argument('--data-root', default='data/shapes',
                        help='the shapes detection set (generated if missing)')
    parser.add_argument('--pretrain-data-root', default='data/pretrain_cls',
                        help='the generated classification set (generated if missing)')
    parser.add_argument('--toy', action='store_true',
                        help='every stage a few iterations on a few images (the CI test)')
    parser.add_argument('--resume', action='store_true',
                        help='continue runs an interruption left unfinished')
    parser.add_argument('--in-process', action='store_true',
                        help='train in this process instead of one process per run')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the data and the training commands; write nothing')
    sizes = parser.add_argument_group(
        'plan', 'override sizes of the plan (default: the full plan, or --toy\'s)')
    sizes.add_argument('--pretrain-images', type=int, help='images of the pre-training set')
    sizes.add_argument('--pretrain-image-size', type=int, help='their side in pixels')
    sizes.add_argument('--pretrain-iters', type=int,
                       help='pre-training iterations (at the config\'s batch; LR drops scale)')
    sizes.add_argument('--multiples', type=float, nargs='+',
                       help='schedules in units of the demo\'s (must include 1)')
    sizes.add_argument('--seeds', type=int, nargs='+', help='seeds of the 1x pair')
    sizes.add_argument('--subset-sizes', type=int, nargs='+',
                       help='training-set sizes of the small-data runs (the full set is '
                       'the figure-1 pair of their schedule)')
    sizes.add_argument('--small-data-multiple', type=float,
                       help='schedule of the small-data runs, in units of the demo\'s (one '
                       'of --multiples; default 0.5)')
    parser.add_argument('--fast-cpu-ops', action='store_true',
                        help="train the detection runs with mmscratch's CPU ops "
                        '(tools/train.py --fast-cpu-ops: the same function, make demo 1.2x faster; '
                        'the published results were measured without them)')
    sizes.add_argument('--curve-points', type=int,
                       help='AP evaluations of a 1x run (others: x sqrt(length))')
    return parser


def plan_from_args(args) -> Plan:
    """:data:`FULL` or :data:`TOY`, with the sizes given on the command line."""
    plan = TOY if args.toy else FULL
    changes = {}
    if args.pretrain_images is not None:
        changes['pretrain_train'] = args.pretrain_images
    if args.pretrain_image_size is not None:
        changes['pretrain_image_size'] = args.pretrain_image_size
    if args.pretrain_iters is not None:
        base = plan.pretrain_schedule or dict(load_config(PRETRAIN_CONFIG).train_cfg.schedule)
        changes['pretrain_schedule'] = scaled_schedule(
            base, args.pretrain_iters / base['total_iters'])
    if args.multiples:
        changes['multiples'] = tuple(args.multiples)
    if args.seeds:
        changes['seeds'] = tuple(args.seeds)
    if args.subset_sizes:
        if any(n <= 0 or n >= plan.shapes_train for n in args.subset_sizes):
            raise MiniPaperError(f'--subset-sizes must lie in [1, {plan.shapes_train}) '
                                 '(the full set is the figure-1 pair)')
        changes['subset_sizes'] = tuple(sorted(set(args.subset_sizes)))
    if args.small_data_multiple is not None:
        changes['small_data_multiple'] = args.small_data_multiple
    if args.fast_cpu_ops:
        changes['fast_cpu_ops'] = True
    if args.curve_points is not None:
        if args.curve_points < 1:
            raise MiniPaperError('--curve-points must be >= 1')
        changes['curve_points'] = args.curve_points
    return dataclasses.replace(plan, **changes)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    plan = plan_from_args(args)
    paper = MiniPaper(plan, args.work_root, args.data_root, args.pretrain_data_root,
                      resume=args.resume, in_process=args.in_process)
    if args.dry_run:
        return dict(commands=paper.dry_run())
    return paper.run()
