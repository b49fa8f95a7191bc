"""FastCPUOpsHook: swaps MMCV's CPU RoIAlign and RPN NMS for mmscratch's, before
any loop; checkpoints unchanged; a real short demo run with it (and bf16) trains,
evaluates and checkpoints; --fast-cpu-ops adds it once."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmcv.ops import RoIAlign
from mmengine.model import MMDistributedDataParallel

from mmscratch.engine.hooks import FastCPUOpsHook
from mmscratch.models import FirstKNMSRPNHead, SeparableRoIAlign
from mmscratch.testing import build_model_from_config
from mmscratch.testing.demo import make_tiny_dataset, write_demo_config
from mmscratch.testing.runners import make_mock_runner
from mmscratch.utils.config_facts import has_custom_hook

REPO = Path(__file__).resolve().parents[3]
DEMO = 'configs/demo/mask_rcnn_gn_shapes.py'


def _kinds(model):
    return ([type(m) for m in model.roi_head.bbox_roi_extractor.roi_layers]
            + [type(m) for m in model.roi_head.mask_roi_extractor.roi_layers]
            + [type(model.rpn_head)])


def test_before_run_replaces_both_ops(tmp_path):
    model = build_model_from_config(DEMO, scale_down=False)
    keys = set(model.state_dict())
    runner = make_mock_runner(tmp_path, model=model)
    FastCPUOpsHook().before_run(runner)
    assert _kinds(model) == [SeparableRoIAlign] * 8 + [FirstKNMSRPNHead]
    assert set(model.state_dict()) == keys
    FastCPUOpsHook().before_run(runner)  # a second time: nothing left to change
    assert _kinds(model) == [SeparableRoIAlign] * 8 + [FirstKNMSRPNHead]


def test_each_op_can_be_kept(tmp_path):
    model = build_model_from_config(DEMO, scale_down=False)
    FastCPUOpsHook(roi_align=False).before_run(make_mock_runner(tmp_path, model=model))
    assert _kinds(model)[:8] == [RoIAlign] * 8 and _kinds(model)[8] is FirstKNMSRPNHead
    model = build_model_from_config(DEMO, scale_down=False)
    FastCPUOpsHook(rpn_nms=False).before_run(make_mock_runner(tmp_path, model=model))
    assert _kinds(model)[:8] == [SeparableRoIAlign] * 8
    assert type(model.rpn_head).__name__ == 'RPNHead'


def test_reaches_into_a_wrapped_model(tmp_path):
    model = build_model_from_config(DEMO, scale_down=False)
    wrapper = MMDistributedDataParallel.__new__(MMDistributedDataParallel)
    torch.nn.Module.__init__(wrapper)
    wrapper.module = model
    FastCPUOpsHook().before_run(make_mock_runner(tmp_path, model=wrapper))
    assert _kinds(model) == [SeparableRoIAlign] * 8 + [FirstKNMSRPNHead]


def test_train_flag_adds_the_hook_once(tmp_path):
    from mmscratch.apis.train import build_parser, build_train_config
    from mmscratch.utils.config_loading import load_config

    def hooks(config, *flags):
        cfg = build_train_config(build_parser().parse_args(
            [config, '--work-dir', str(tmp_path), *flags]))
        return [h['type'] for h in cfg.custom_hooks]

    plain = hooks(DEMO)
    assert 'FastCPUOpsHook' not in plain
    assert hooks(DEMO, '--fast-cpu-ops') == plain + ['FastCPUOpsHook']
    lever = 'configs/demo/mask_rcnn_gn_shapes_cpu_ops.py'
    assert hooks(lever, '--fast-cpu-ops').count('FastCPUOpsHook') == 1
    assert has_custom_hook(load_config(lever), 'FastCPUOpsHook')
    assert not has_custom_hook(load_config(DEMO), 'FastCPUOpsHook')


@pytest.mark.slow  # a real training run in a subprocess
def test_real_run_with_fast_cpu_ops_and_bf16(tmp_path):
    data_root = make_tiny_dataset(tmp_path / 'shapes', num_val=4)
    config = write_demo_config(tmp_path / 'demo_ops.py', data_root,
                               [dict(type='ExactResumeHook')],
                               optim_wrapper=dict(type='BF16OptimWrapper'))
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), config,
                           '--fast-cpu-ops', '--work-dir', str(tmp_path / 'run')],
                          cwd=str(REPO), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    log = next((tmp_path / 'run').glob('*/*.log')).read_text()
    assert ('FastCPUOpsHook: 8 RoIAlign layers as matrix products, 1 RPN heads with '
            'first-k NMS') in log
    assert 'Iter(train) [8/8]' in log and 'Iter(val)' in log
    state = torch.load(tmp_path / 'run' / 'iter_8.pth')['state_dict']
    build_model_from_config(DEMO, scale_down=False).load_state_dict(state)  # stock model
