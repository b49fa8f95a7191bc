"""tools/lever_check.py: schedule shrinking, the plan of runs, and a real (tiny)
check of the bf16 lever on the demo config, in process."""
import json
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from mmscratch.apis import lever_check
from mmscratch.apis.lever_check import plan_runs, shorten_options
from mmscratch.testing.demo import DEMO_CONFIG, tiny_demo_options
from mmscratch.utils.config_loading import load_config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import lever_check as lever_check_tool  # noqa: E402


def test_shorten_keeps_the_schedule_fractions():
    opts = shorten_options(load_config(DEMO_CONFIG), 300)  # demo: 1500 its, drops 300/100
    assert opts == ['train_cfg.schedule.total_iters=300',
                    'train_cfg.schedule.drops_before_end=[60, 20]',
                    'train_cfg.schedule.warmup_iters=20',
                    'train_cfg.val_interval=300',
                    'custom_hooks.1.num_points=1']  # ConvergenceCurveHook's index
    plain = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=9000)))
    assert shorten_options(plain, 90) == ['train_cfg.max_iters=90', 'train_cfg.val_interval=90']
    with pytest.raises(ValueError, match='iteration-based'):
        shorten_options(Config(dict(train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=12))),
                        90)


def test_plan_interleaves_arms_and_gives_the_arm_options_the_last_word():
    runs = plan_runs('root', [0, 1], lever=['x=2'], baseline=['x=1'], shared=['x=0', 'y=1'])
    assert [(r.arm, r.seed) for r in runs] == [('baseline', 0), ('lever', 0),
                                              ('baseline', 1), ('lever', 1)]
    assert runs[1].cfg_options == ['x=0', 'y=1', 'x=2', 'randomness.seed=0']
    assert runs[2].work_dir == 'root/baseline_seed1'
    other = plan_runs('root', [0], lever=[], configs=('a.py', 'b.py'))
    assert [(r.arm, r.config) for r in other] == [('baseline', 'a.py'), ('lever', 'b.py')]
    with pytest.raises(ValueError, match='--lever-config'):
        lever_check.run_lever_check('a.py', 'root')  # no lever at all


@pytest.mark.slow
def test_real_bf16_check_on_the_demo(tmp_path, demo_data, monkeypatch, capsys):
    root = tmp_path / 'check'
    # the tiny demo's data, workers and logging; the schedule is --iters' own
    shared = [opt for opt in tiny_demo_options(demo_data, checkpoint_interval=10)
              if not opt.startswith(('train_cfg.', 'custom_hooks.1.'))]
    shared.append('model.test_cfg.rcnn.score_thr=0.0')
    monkeypatch.setattr(lever_check, 'train_config', _in_process(lever_check.train_config))
    report = lever_check_tool.main([
        DEMO_CONFIG, '--lever', 'optim_wrapper.type=BF16OptimWrapper', '--iters', '10',
        '--loss-window', '4', '--work-root', str(root), '--cfg-options', *shared])
    assert [(r['arm'], r['iters']) for r in report['runs']] == [('baseline', 10), ('lever', 10)]
    for run in report['runs']:
        assert run['bbox_ap'] is not None and run['losses']['loss'] > 0
        assert set(run['losses']) >= {'loss', 'loss_cls', 'loss_bbox', 'loss_mask'}
    dumped = (root / 'lever_seed0' / 'mask_rcnn_gn_shapes.py').read_text()
    assert "type='BF16OptimWrapper'" in dumped
    # 10 of the demo's 1500 iterations: drops 2.0 and 0.67 before the end, kept distinct
    assert report['shared'][:3] == ['train_cfg.schedule.total_iters=10',
                                    'train_cfg.schedule.drops_before_end=[2, 1]',
                                    'train_cfg.schedule.warmup_iters=1']
    assert "type='BF16OptimWrapper'" not in (
        root / 'baseline_seed0' / 'mask_rcnn_gn_shapes.py').read_text()
    assert report['summary']['verdict'] == 'single seed: no noise estimate'
    assert json.loads((root / 'lever_check.json').read_text())['runs'] == report['runs']
    assert '| **lever mean** |' in capsys.readouterr().out
    # finished runs are reused: a second call trains nothing
    monkeypatch.setattr(lever_check, 'train_config', _fail)
    again = lever_check.run_lever_check(DEMO_CONFIG, str(root),
                                        ['optim_wrapper.type=BF16OptimWrapper'], iters=10,
                                        shared=shared, loss_window=4)
    assert again['runs'] == report['runs']


def _in_process(train_config):
    def run(*args, **kwargs):
        return train_config(*args, **dict(kwargs, in_process=True))
    return run


def _fail(*args, **kwargs):
    raise AssertionError('a finished run was trained again')
