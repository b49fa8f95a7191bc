"""Way 2 (``read_base`` of ``mmscratch.configs``) works from any directory.

MMEngine 0.10.7 resolves the import through the package's metadata, which an
editable install keeps in site-packages apart from the code; the tests run
in a fresh interpreter whose working directory is a temporary folder (not
the checkout, whose ``.egg-info`` would otherwise hide the problem), with
the editable install of this environment and with a plain ``pip install .``.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

WAY2 = textwrap.dedent('''
    from mmengine.config import read_base

    with read_base():
        from mmscratch.configs.recipes.gn import scratch_recipe

    model = dict(type='MaskRCNN', backbone=scratch_recipe.backbone)
    train_cfg = scratch_recipe.train_cfg
''')
LOAD = textwrap.dedent('''
    import mmscratch
    from mmengine.config import Config
    cfg = Config.fromfile('way2.py')
    print('LOADED', cfg.model.backbone.norm_cfg['type'], cfg.train_cfg.schedule.multiple,
          mmscratch.__file__)
''')


def _load_from(directory: Path, env=None):
    (directory / 'way2.py').write_text(WAY2)
    return subprocess.run([sys.executable, '-c', LOAD], cwd=directory, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_with_the_editable_install_from_another_directory(tmp_path):
    proc = _load_from(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'LOADED GN 6' in proc.stdout
    # and through tools/train.py, which imports mmscratch before the config
    train = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), 'way2.py',
                            '--dry-run'], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
    # parsed (the recipe resolved); it then stops for lack of a dataloader, cleanly
    assert 'not found!' not in train.stderr
    assert 'error: train_dataloader.batch_size must be a positive int' in train.stderr


@pytest.mark.slow
def test_with_a_plain_pip_install(tmp_path):
    target = tmp_path / 'site'
    install = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
         '--target', str(target), str(REPO)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / 'elsewhere'
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = _load_from(work, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'LOADED GN 6' in proc.stdout and str(target) in proc.stdout
