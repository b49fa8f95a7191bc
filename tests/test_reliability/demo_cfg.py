"""The demo config (GN Mask R-CNN, configs/demo) shrunk for reliability tests.

A generated 24-image dataset (6 iterations an epoch at 4 images), 8
iterations of the paper's schedule, checkpoints every 3 iterations through
SafeCheckpointHook, val at the end, deterministic mode, the reliability
hooks on, one train dataloader worker as in the demo.
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import List

from mmscratch.datasets.shapes import generate_shapes_dataset

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = str(REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py')
TOTAL_ITERS = 8
CHECKPOINT_INTERVAL = 3


def make_dataset(root: Path) -> str:
    generate_shapes_dataset(str(root), num_train=24, num_val=4, seed=0)
    return str(root).rstrip('/') + '/'


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
