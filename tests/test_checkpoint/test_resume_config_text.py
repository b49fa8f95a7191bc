"""``--resume`` never executes the config text a checkpoint carries.

MMEngine's ``Runner.resume`` passes ``checkpoint['meta']['config']`` to
``Config.fromstring``, which runs it. A checkpoint whose ``meta.config``
would create a file is resumed with mmscratch's ``tools/train.py`` and with
MMDetection's own ``tools/train.py`` on the same config (each in a fresh
process): training continues and the file is never created.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmscratch.apis import train as train_api
from mmscratch.checkpoint import load_checkpoint_file, to_plain_data
from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _mmdet_train_script() -> Path:
    import mmdet
    return Path(mmdet.__file__).resolve().parent / '.mim' / 'tools' / 'train.py'


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume_config')
    data_root = make_tiny_dataset(root / 'shapes', num_train=8, num_val=2)
    options = tiny_demo_options(data_root, total_iters=4, drops=(2, 1), warmup=1,
                                checkpoint_interval=2, curve_points=1)
    work_dir = root / 'work'
    train_api.main([DEMO_CONFIG, '--work-dir', str(work_dir), '--cfg-options', *options])
    return work_dir, options


def _forged_copy(trained_run, tmp_path):
    """A copy of the run whose last checkpoint carries code in ``meta.config``."""
    source, options = trained_run
    work_dir = tmp_path / 'work'
    shutil.copytree(source, work_dir)
    sentinel = tmp_path / 'pwned'
    path = work_dir / 'iter_2.pth'
    ckpt = load_checkpoint_file(str(path))
    ckpt['meta']['config'] = f"open({str(sentinel)!r}, 'w').write('ran')\n"
    torch.save(to_plain_data(ckpt), path)
    (work_dir / 'iter_4.pth').unlink()  # as if the run had died after iteration 2
    (work_dir / 'last_checkpoint').write_text(str(path))
    return work_dir, options, sentinel


def _resume(script, work_dir, options, extra=()):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, str(script), DEMO_CONFIG, '--work-dir', str(work_dir), '--resume',
         '--cfg-options', *options, *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_mmscratch_train_resume_does_not_run_the_stored_config(trained_run, tmp_path):
    work_dir, options, sentinel = _forged_copy(trained_run, tmp_path)
    proc = _resume(REPO / 'tools' / 'train.py', work_dir, options,
                   ['default_hooks.logger.interval=1'])
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert not sentinel.exists()
    assert "ignored the config text stored in the checkpoint" in log
    assert 'resumed epoch' in log or 'resumed' in log
    # the run's own config differs from the stored one in the logger interval
    assert "differs from this run's" in log and 'interval=1' in log
    assert torch.load(work_dir / 'iter_4.pth')['meta']['iter'] == 4


def test_mmdetection_train_resume_does_not_run_the_stored_config(trained_run, tmp_path):
    work_dir, options, sentinel = _forged_copy(trained_run, tmp_path)
    script = _mmdet_train_script()
    assert script.is_file(), script
    proc = _resume(script, work_dir, options)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert not sentinel.exists()
    assert "ignored the config text stored in the checkpoint" in log
