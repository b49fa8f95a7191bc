"""Misconfigurations end in one clear ``error: ...`` line, not a stack trace
from deep inside a dataset or model constructor; ``--resume`` never silently
starts over."""
import contextlib
import io
import logging
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mmengine.config import Config

import mmscratch  # noqa: F401
from mmscratch.apis import train as train_api
from mmscratch.apis.preflight import check_train_config, linear_rule_warning
from mmscratch.utils.config_loading import ConfigError, load_config
from mmscratch.apis.train import NothingToResume, apply_resume

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py')


def _data_options(root):
    root = str(root).rstrip('/') + '/'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={root}annotations/instances_val.json']


def _cli(monkeypatch, *argv):
    """Run tools/train.py in this process; returns its ``error:`` line if it
    failed with exit status 1 (the only line on stderr), else its exit code."""
    monkeypatch.setattr(sys, 'argv', ['tools/train.py', *map(str, argv)])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / 'tools' / 'train.py'), run_name='__main__')
    errors = [line for line in stderr.getvalue().splitlines() if line.startswith('error:')]
    if exit_info.value.code == 1 and len(errors) == 1:
        return errors[0]
    return exit_info.value.code


@pytest.fixture
def data_root(tmp_path):
    """A complete-looking dataset root (annotation files need only exist)."""
    for split in ('train', 'val'):
        (tmp_path / 'data' / split).mkdir(parents=True)
    (tmp_path / 'data' / 'annotations').mkdir()
    for split in ('train', 'val'):
        (tmp_path / 'data' / 'annotations' / f'instances_{split}.json').write_text('{}')
    return tmp_path / 'data'


def test_config_path_that_does_not_exist(monkeypatch, tmp_path):
    code = _cli(monkeypatch, tmp_path / 'no_such_config.py')
    assert code == f'error: config file not found: {tmp_path / "no_such_config.py"}'


def test_dataset_root_without_annotation_file(monkeypatch, tmp_path):
    (tmp_path / 'data' / 'train').mkdir(parents=True)  # images, no annotations/
    code = _cli(monkeypatch, DEMO, '--work-dir', tmp_path / 'w', '--cfg-options',
                *_data_options(tmp_path / 'data'))
    assert code.startswith('error: the config cannot train:')
    assert f'annotation file not found: {tmp_path}/data/annotations/instances_train.json' in code
    assert 'train_dataloader.dataset' in code and 'val_evaluator.ann_file' in code
    missing_root = _cli(monkeypatch, DEMO, '--work-dir', tmp_path / 'w', '--cfg-options',
                        *_data_options(tmp_path / 'nowhere'))
    assert 'dataset root not found' in missing_root


@pytest.mark.parametrize('norm_type', ['GNN', 'ReLU'])
def test_unknown_norm_type(monkeypatch, tmp_path, data_root, norm_type):
    code = _cli(monkeypatch, DEMO, '--work-dir', tmp_path / 'w', '--cfg-options',
                *_data_options(data_root), f'model.neck.norm_cfg.type={norm_type}')
    assert f"model.neck.norm_cfg.type='{norm_type}' is not a norm layer type" in code
    assert "GN" in code.split('known: ')[1] and 'SyncBN' in code


def test_valid_config_passes_the_checks(data_root):
    cfg = load_config(DEMO, dict(a.split('=', 1) for a in _data_options(data_root)))
    check_train_config(cfg, world_size=1)  # no exception


def test_lr_far_off_the_linear_scaling_rule_warns(data_root, monkeypatch):
    cfg = load_config(DEMO, dict(a.split('=', 1) for a in _data_options(data_root)))
    # the demo trains with AdamW, to which the SGD reference does not apply
    assert linear_rule_warning(cfg, world_size=1) is None
    # with the paper's SGD at 0.02 per 4 images (4x the paper's per-image LR):
    # on the edge, fine
    cfg.optim_wrapper.optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4)
    assert linear_rule_warning(cfg, world_size=1) is None
    cfg.auto_scale_lr.enable = False
    cfg.optim_wrapper.optimizer.lr = 0.08  # 16x
    message = linear_rule_warning(cfg, world_size=1)
    assert '16x the linear scaling rule' in message and 'auto_scale_lr' in message
    logged = []
    monkeypatch.setattr('mmengine.logging.print_log',
                        lambda msg, logger=None, level=None: logged.append((level, msg)))
    check_train_config(cfg, world_size=1)  # a warning, not an error
    assert (logging.WARNING, message) in logged
    cfg.optim_wrapper.optimizer.lr = 0.0002  # 0.04x
    assert '0.04x' in linear_rule_warning(cfg, world_size=1)
    # auto_scale_lr corrects the LR for 8 GPUs x 4 images: no warning
    cfg.optim_wrapper.optimizer.lr = 0.02
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=16)
    assert linear_rule_warning(cfg, world_size=8) is None
    # not SGD: the rule's reference does not apply
    cfg.optim_wrapper.optimizer = dict(type='AdamW', lr=1.0)
    assert linear_rule_warning(cfg, world_size=1) is None


def test_resume_with_nothing_to_resume_refuses(monkeypatch, tmp_path):
    code = _cli(monkeypatch, DEMO, '--work-dir', tmp_path / 'empty', '--resume')
    assert code.startswith('error: --resume: no checkpoint to resume from')
    assert '--allow-fresh-start' in code
    # a last_checkpoint naming a file that is gone is nothing to resume either
    (tmp_path / 'stale').mkdir()
    (tmp_path / 'stale' / 'last_checkpoint').write_text(str(tmp_path / 'stale' / 'iter_9.pth'))
    cfg = Config(dict(work_dir=str(tmp_path / 'stale')))
    with pytest.raises(NothingToResume):
        apply_resume(cfg, 'auto', allow_fresh_start=False)
    with pytest.raises(NothingToResume, match='checkpoint file not found'):
        apply_resume(cfg, str(tmp_path / 'nope.pth'), allow_fresh_start=False)
    # asked for: a loud warning and a fresh start
    logged = []
    monkeypatch.setattr(train_api, 'print_log',
                        lambda msg, logger=None, level=None: logged.append((level, msg)))
    apply_resume(cfg, 'auto', allow_fresh_start=True)
    assert cfg.resume is False
    assert logged[0][0] == logging.WARNING
    assert 'starting from iteration 0 (--allow-fresh-start)' in logged[0][1]


def test_main_raises_config_error_for_programmatic_callers(tmp_path):
    with pytest.raises(ConfigError):
        train_api.main([DEMO, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                        *_data_options(tmp_path / 'nowhere')])


def test_resume_never_blocks_on_a_fifo_planted_as_last_checkpoint(tmp_path):
    """MMEngine's find_latest_checkpoint open()s last_checkpoint: a FIFO there
    hangs a --resume forever. tools/train.py reads it without blocking."""
    code = textwrap.dedent('''
        import os, sys
        from mmengine.config import Config
        from mmscratch.apis.train import NothingToResume, apply_resume
        os.mkfifo(os.path.join(sys.argv[1], 'last_checkpoint'))
        try:
            apply_resume(Config(dict(work_dir=sys.argv[1])), 'auto', allow_fresh_start=False)
        except NothingToResume as exc:
            print('REFUSED', exc)
    ''')
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'REFUSED' in proc.stdout and 'last_checkpoint' in proc.stdout, proc.stdout
