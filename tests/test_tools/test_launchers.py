"""The launchers run the project's interpreter without an activated virtualenv."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (REPO / '.venv' / 'bin' / 'python').is_file(),
                    reason='needs the repo .venv that make install creates')
@pytest.mark.slow
def test_launchers_find_the_project_interpreter(tmp_path):
    """After make demo/install, tools/dist_train.sh works without activating .venv:
    no PYTHON, and a PATH without the venv's python."""
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'VIRTUAL_ENV')}
    env['PATH'] = '/usr/bin:/bin'
    proc = subprocess.run(['bash', str(REPO / 'tools' / 'dist_train.sh'),
                           'configs/scratch/mask_rcnn_r50_gn_6x.py', '1', '--dry-run'],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '540,000 iterations' in proc.stdout
