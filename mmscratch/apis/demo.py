"""The embedded default job: generate data, train from scratch, evaluate, plot.

``make demo`` runs :func:`main`: it generates the shapes dataset when it is
missing, trains ``configs/demo/mask_rcnn_gn_shapes.py`` from random
initialization with the convergence-curve and data-seen hooks on, and prints
the final COCO bbox/segm AP (pycocotools), the wall time and where the curve
plot is. The figures also land in ``WORK_DIR/demo_results.json``.

It trains with the speed levers that passed ``tools/lever_check.py`` on the
full demo (docs/performance.md): bf16 autocast with fp32 losses, RoIAlign and
NMS (``tools/train.py --bf16``; ``--fp32`` opts out) and mmscratch's CPU
RoIAlign and RPN NMS in place of MMCV's single-threaded kernels
(``tools/train.py --fast-cpu-ops``; ``--mmcv-ops`` opts out), and evaluates at
4 points of the schedule. With both opt-outs it trains the config as written.
"""
from __future__ import annotations

import json
import os.path as osp
import time
from typing import List, Optional, Sequence

from .cli import ToolParser
from ..utils.run_files import read_curve
from ..visualization.curves import PLOT_FILE
from ..datasets.shapes import dataset_is_complete, generate_shapes_dataset
from ..utils.atomic_io import atomic_write_text
from ..utils.progress import wants_progress
from . import train as train_api

DEMO_CONFIG = 'configs/demo/mask_rcnn_gn_shapes.py'


def data_root_options(data_root: str) -> List[str]:
    """``--cfg-options`` pointing the demo config at a generated dataset."""
    data_root = data_root.rstrip('/') + '/'
    return [
        f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={data_root}annotations/instances_val.json',
        f'test_evaluator.ann_file={data_root}annotations/instances_val.json',
    ]


def build_parser() -> ToolParser:
    parser = ToolParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEMO_CONFIG)
    parser.add_argument('--data-root', default='data/shapes')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--seed', type=int, default=0, help='dataset and training seed')
    parser.add_argument('--curve-points', type=int, default=4,
                        help='evaluations along the schedule for the curve (each costs '
                        'about as much as 80 training iterations)')
    parser.add_argument('--fp32', action='store_true',
                        help='train in fp32 (default: bf16 autocast, the lever that passed '
                        'the accuracy check)')
    parser.add_argument('--mmcv-ops', action='store_true',
                        help="MMCV's CPU RoIAlign and RPN NMS (default: mmscratch's, the "
                        'same function, faster on CPU: tools/train.py --fast-cpu-ops)')
    parser.add_argument('--resume', action='store_true',
                        help='continue an interrupted demo in the same work dir')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides passed to tools/train.py')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    t0 = time.time()
    if not dataset_is_complete(args.data_root):
        print(f'Generating the shapes dataset in {args.data_root} (seed {args.seed})')
        generate_shapes_dataset(args.data_root, seed=args.seed, progress=wants_progress())
    train_argv = [
        args.config, '--work-dir', args.work_dir, '--cfg-options',
        *data_root_options(args.data_root),
        f'randomness.seed={args.seed}',
        f'custom_hooks.1.num_points={args.curve_points}',
        *args.cfg_options,
    ]
    if not args.fp32:
        train_argv.insert(1, '--bf16')
    if not args.mmcv_ops:
        train_argv.insert(1, '--fast-cpu-ops')
    if args.resume:
        train_argv += ['--resume', '--allow-fresh-start']
    runner = train_api.main(train_argv)
    curve = read_curve(args.work_dir)
    final = curve[-1]
    results = dict(
        config=args.config,
        precision='fp32' if args.fp32 else 'bf16',
        cpu_ops='mmcv' if args.mmcv_ops else 'mmscratch',
        iterations=final['iter'],
        images_seen=final['images_seen'],
        bbox_AP=final.get('bbox_mAP'),
        segm_AP=final.get('segm_mAP'),
        bbox_AP50=final.get('bbox_mAP_50'),
        segm_AP50=final.get('segm_mAP_50'),
        wall_time_s=round(time.time() - t0, 1),
        curve_png=osp.join(args.work_dir, PLOT_FILE),
        curve=[{k: r.get(k) for k in ('iter', 'bbox_mAP', 'segm_mAP')} for r in curve])
    atomic_write_text(osp.join(runner.work_dir, 'demo_results.json'),
                      json.dumps(results, indent=1))
    print(f"\nmmscratch demo: trained from scratch for {results['iterations']} iterations "
          f"in {results['wall_time_s'] / 60:.1f} min (2-core CPU figures in README.md)\n"
          f"  COCO bbox AP {results['bbox_AP']:.3f}  segm AP {results['segm_AP']:.3f} "
          f"(val split, pycocotools)\n"
          f"  curve: {results['curve_png']}\n")
    return results
