"""Shared set-up for integration tests: a tiny generated dataset and the demo
config shrunk to a few dozen iterations (same model, same hooks)."""
from __future__ import annotations

from pathlib import Path
from typing import List

from mmscratch.apis.demo import data_root_options
from mmscratch.datasets.shapes import generate_shapes_dataset

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = str(REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py')


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
