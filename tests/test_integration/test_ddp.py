"""2-process DDP (gloo, CPU) through tools/dist_train.sh, as users launch it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options
from mmscratch.utils.run_files import read_curve

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_two_cpu_processes(tmp_path):
    data_root = make_tiny_dataset(tmp_path / 'shapes', num_train=16, num_val=4)
    work_dir = tmp_path / 'work'
    # 2 processes x 4 images = batch 8: the demo's schedule (written for batch
    # 4) halves: 12 iterations at batch 4 become 6 at batch 8.
    options = tiny_demo_options(data_root, total_iters=12, drops=(4, 2), warmup=2,
                                checkpoint_interval=6, curve_points=1)
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()),
               OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), DEMO_CONFIG, '2',
         '--work-dir', str(work_dir), '--cfg-options', *options],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    checkpoints = sorted(p.name for p in work_dir.glob('iter_*.pth'))
    assert checkpoints == ['iter_6.pth'], checkpoints
    ckpt = torch.load(work_dir / 'iter_6.pth')
    assert ckpt['meta']['iter'] == 6
    # images counted over both ranks: 6 iterations x 2 processes x 4 images
    assert ckpt['data_seen']['images'] == 48
    assert 'Scratch schedule: 6 iterations at batch 8' in log
    assert [r['iter'] for r in read_curve(str(work_dir))] == [6]
