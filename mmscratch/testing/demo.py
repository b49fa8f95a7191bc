"""The demo config shrunk for the tests: same model, same hooks, a few iterations.

* :func:`make_tiny_dataset` / :func:`tiny_demo_options`: a tiny generated
  shapes dataset and ``--cfg-options`` for a short run of the demo config
  (the integration and analysis tests).
* :func:`write_demo_config`: a config file inheriting the demo config with
  the reliability tests' settings (:data:`TOTAL_ITERS` iterations of the
  paper's schedule, checkpoints every :data:`CHECKPOINT_INTERVAL` through
  SafeCheckpointHook, val at the end, deterministic mode, one train
  dataloader worker as in the demo), and readers of what such a run logged.
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import List

from ..apis.demo import data_root_options
from ..datasets.shapes import generate_shapes_dataset
from ..utils.config_loading import configs_root

DEMO_CONFIG = str(configs_root() / 'demo' / 'mask_rcnn_gn_shapes.py')
TOTAL_ITERS = 8
CHECKPOINT_INTERVAL = 3


def make_tiny_dataset(root: Path, num_train: int = 24, num_val: int = 8, seed: int = 0) -> str:
    generate_shapes_dataset(str(root), num_train=num_train, num_val=num_val, seed=seed)
    return str(root).rstrip('/') + '/'


def tiny_demo_options(data_root: str, total_iters: int = 30, drops=(10, 4), warmup: int = 5,
                      checkpoint_interval: int = 15, curve_points: int = 3,
                      workers: int = 0) -> List[str]:
    """--cfg-options for a short run of the demo config on ``data_root``."""
    return [
        *data_root_options(data_root),
        f'train_cfg.schedule.total_iters={total_iters}',
        f'train_cfg.schedule.drops_before_end=[{drops[0]},{drops[1]}]',
        f'train_cfg.schedule.warmup_iters={warmup}',
        f'train_cfg.val_interval={total_iters}',
        f'train_dataloader.num_workers={workers}',
        f'train_dataloader.persistent_workers={workers > 0}',
        f'val_dataloader.num_workers={workers}',
        f'val_dataloader.persistent_workers={workers > 0}',
        f'default_hooks.checkpoint.interval={checkpoint_interval}',
        'default_hooks.logger.interval=5',
        'log_processor.window_size=5',
        f'custom_hooks.1.num_points={curve_points}',
        'custom_hooks.0.sync_interval=5',
    ]


def write_demo_config(path: Path, data_root: str, custom_hooks: List[dict],
                      test_hook_module: bool = False, **extra) -> str:
    """A config file inheriting the demo config with the test settings.

    (A file rather than --cfg-options: MMEngine's option parser cannot spell
    a list of hook dicts.) ``extra`` adds top-level settings, merged like any
    child config's.
    """
    imports = ['mmscratch'] + (['tests.test_reliability.crash_hooks'] if test_hook_module else [])
    dataset = dict(dataset=dict(data_root=data_root))
    ann = f'{data_root}annotations/instances_val.json'
    settings = dict(
        custom_imports=dict(imports=imports, allow_failed_imports=False),
        train_dataloader=dict(dataset, num_workers=1, persistent_workers=True),
        val_dataloader=dict(dataset, num_workers=0, persistent_workers=False),
        test_dataloader=dict(dataset, num_workers=0, persistent_workers=False),
        val_evaluator=dict(ann_file=ann),
        test_evaluator=dict(ann_file=ann),
        train_cfg=dict(schedule=dict(total_iters=TOTAL_ITERS, drops_before_end=(4, 2),
                                     warmup_iters=2),
                       val_interval=TOTAL_ITERS),
        default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook',
                                           interval=CHECKPOINT_INTERVAL),
                           logger=dict(interval=1)),
        log_processor=dict(window_size=1),
        randomness=dict(seed=0, deterministic=True),
        custom_hooks=custom_hooks,
        **extra,
    )
    lines = [f'_base_ = [{DEMO_CONFIG!r}]']
    lines += [f'{key} = {value!r}' for key, value in settings.items()]
    Path(path).write_text('\n'.join(lines) + '\n')
    return str(path)


def unique_name() -> List[str]:
    """--cfg-options giving an in-process run its own message hub and logger."""
    return ['--cfg-options', f'experiment_name={uuid.uuid4().hex}']


def logged_records(work_dir: Path) -> List[dict]:
    """The records of the run's scalars.json files (all runs in the work dir)."""
    records = []
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def logged_iterations(work_dir: Path) -> List[dict]:
    """The per-iteration training records."""
    return [r for r in logged_records(work_dir) if 'loss' in r]


def log_text(work_dir: Path) -> str:
    return '\n'.join(p.read_text() for p in sorted(Path(work_dir).glob('*/*.log')))


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))
