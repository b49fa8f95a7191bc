"""tools/gpu_check.sh runs before a GPU session spends device time on it: its
smoke mode runs the same commands on a CPU with a scaled-down model."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / 'tools' / 'gpu_check.sh')


def _run(out, *checks, smoke=True):
    # PYTHON: this interpreter (the venv's), not whatever python3 is first on PATH
    env = dict(os.environ, OUT=str(out), OMP_NUM_THREADS='1', PYTHON=sys.executable)
    if smoke:
        env['GPU_CHECK_SMOKE'] = '1'
    return subprocess.run(['bash', SCRIPT, *checks], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_smoke_mode_writes_one_json_per_check(tmp_path):
    proc = _run(tmp_path, 'bf16', 'data')
    assert proc.returncode == 0, proc.stderr[-3000:]
    bf16 = json.loads((tmp_path / 'lever_bf16.json').read_text())
    assert bf16['a']['config'].endswith('mask_rcnn_r50_gn_6x_bf16.py')
    assert bf16['a']['optim_wrapper'] == 'BF16OptimWrapper'
    assert bf16['b']['optim_wrapper'] == 'OptimWrapper' and bf16['ratio'] > 0
    data = json.loads((tmp_path / 'data_fast_vs_stock.json').read_text())
    assert data['mode'] == 'data' and data['b']['config'].startswith('mmdet::')
    assert not (tmp_path / 'bench_data').exists()  # generated images are cleaned up


def test_unknown_check_and_missing_setup_are_errors(tmp_path):
    proc = _run(tmp_path, 'nonsense')
    assert proc.returncode == 2 and "unknown check 'nonsense'" in proc.stderr
    if not (REPO / '.gpu' / 'setup_device.sh').exists():
        proc = _run(tmp_path, 'data', smoke=False)
        assert proc.returncode == 2 and 'setup_device.sh not found' in proc.stderr

