"""``tools/test.py``: evaluate a checkpoint, with MMDetection's flags."""
from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import DictAction

from ..checkpoint import older_checkpoints_readable
from ..utils.dist import needs_cpu_process_group, shutdown_cpu_process_group
from .config_loading import default_work_dir, load_config, set_launcher
from .train import build_runner


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model.')
    parser.add_argument('config', help='config file path, or mmscratch::REL')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation results')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value (MMEngine syntax)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


@older_checkpoints_readable()
def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl file')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpDetResults', out_file_path=args.out))
    set_launcher(cfg, args.launcher)
    runner = build_runner(cfg)
    metrics = runner.test()
    if needs_cpu_process_group(args.launcher):
        shutdown_cpu_process_group()
    return metrics
