"""Pytest fixtures shared across test folders (a plugin: tests/conftest.py
loads it with ``pytest_plugins``).

``demo_data`` and ``demo_runs``: real demo runs shared by the analysis,
visualization and launcher tests (session-wide, made once).

Two short from-scratch runs of the demo config on one generated dataset:
``a`` (12 iterations, evaluated at 6 and 12) and ``b`` (6 iterations,
evaluated at 3 and 6, another seed), so the tools see two runs of the same
config with different lengths: what a Figure-1 plot or a comparison table is
made of. Evaluation points are explicit to keep evaluations (the slow part
on a CPU) to four in all, and the box score threshold is 0 so that a model
this young still returns detections: every evaluation yields an AP (maybe
0.0), never an empty result.
"""
from pathlib import Path

import pytest

from .demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options


def short_run_options(data_root, total_iters, eval_iters, drops, checkpoint_interval):
    """The demo config shrunk: ``total_iters`` iterations, AP at ``eval_iters``."""
    return tiny_demo_options(data_root, total_iters=total_iters, drops=drops, warmup=2,
                             checkpoint_interval=checkpoint_interval) + [
        'model.test_cfg.rcnn.score_thr=0.0',
        'custom_hooks.1.num_points=None',
        'custom_hooks.1.eval_iters=[' + ','.join(str(i) for i in eval_iters) + ']',
    ]


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """24 training and 4 validation images of the shapes dataset."""
    return make_tiny_dataset(tmp_path_factory.mktemp('analysis_shapes'), num_train=24,
                             num_val=4)


@pytest.fixture(scope='session')
def demo_runs(tmp_path_factory, demo_data):
    """Work dirs of the two real runs: ``{'a': Path, 'b': Path}``."""
    from ..apis.train import main

    root = tmp_path_factory.mktemp('analysis_runs')
    plans = dict(a=(12, [6, 12], (4, 2), 12, 0), b=(6, [3, 6], (3, 1), 6, 1))
    runs = {}
    for name, (iters, evals, drops, ckpt, seed) in plans.items():
        work_dir = root / name
        main([DEMO_CONFIG, '--work-dir', str(work_dir), '--cfg-options',
              *short_run_options(demo_data, iters, evals, drops, ckpt),
              f'randomness.seed={seed}'])
        runs[name] = Path(work_dir)
    return runs
