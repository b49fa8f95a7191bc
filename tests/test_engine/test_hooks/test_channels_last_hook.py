"""ChannelsLastHook: NHWC weights and backbone inputs, same losses; and a real
short demo run with the hook (and bf16) trains and checkpoints."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmscratch.benchmark.synthetic import make_train_batch
from mmscratch.engine.hooks import ChannelsLastHook
from mmscratch.testing import build_model_from_config
from mmscratch.testing.demo import make_tiny_dataset, write_demo_config
from mmscratch.testing.runners import make_mock_runner

REPO = Path(__file__).resolve().parents[3]

DEMO = 'configs/demo/mask_rcnn_gn_shapes.py'


def _losses(model, data):
    torch.manual_seed(3)  # the RoI samplers draw random numbers
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)
    return total


def test_before_train_converts_weights_and_inputs_and_keeps_the_losses(tmp_path):
    torch.manual_seed(0)
    model = build_model_from_config(DEMO, scale_down=False).train()
    reference = copy.deepcopy(model)
    batch = make_train_batch(batch_size=2, image_size=(128, 128), num_instances=3,
                             num_classes=5, seed=0)
    data = model.data_preprocessor(batch, True)

    runner = make_mock_runner(tmp_path, model=model)
    ChannelsLastHook().before_train(runner)
    ChannelsLastHook().before_train(runner)  # idempotent
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    seen = []
    model.backbone.conv1.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    feats = model.extract_feat(data['inputs'])
    assert len(seen) == 1 and seen[0].is_contiguous(memory_format=torch.channels_last)
    assert not data['inputs'].is_contiguous(memory_format=torch.channels_last)  # caller's own
    # same values up to summation order (the losses themselves are not compared:
    # at random init near-tied RPN scores let rounding pick other proposals)
    ref_feats = reference.extract_feat(data['inputs'])
    for nhwc, nchw in zip(feats, ref_feats):
        assert nhwc.is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(nhwc, nchw, rtol=1e-4, atol=1e-4)
    # RoI features too: MMCV's RoIAlign reads NCHW memory, the hook hands it NCHW
    rois = torch.tensor([[0, 4., 6., 60., 70.], [1, 30., 10., 120., 90.],
                         [0, 0., 0., 127., 127.]])
    for name in ('bbox_roi_extractor', 'mask_roi_extractor'):
        ours = getattr(model.roi_head, name)(feats[:4], rois)
        theirs = getattr(reference.roi_head, name)(ref_feats[:4], rois)
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4), name
    assert torch.isfinite(_losses(model, data))


def test_roi_align_reads_nchw_memory():
    """Why the hook hands RoI extractors NCHW: MMCV 2.1 gets NHWC wrong, silently."""
    from mmcv.ops import RoIAlign
    torch.manual_seed(0)
    feats = torch.randn(1, 8, 32, 32)
    rois = torch.tensor([[0, 2., 3., 20., 25.]])
    op = RoIAlign((7, 7), 1.0, 0)
    nhwc = op(feats.contiguous(memory_format=torch.channels_last), rois)
    assert not torch.allclose(op(feats, rois), nhwc, atol=1e-3)


@pytest.mark.slow  # a real training run in a subprocess
def test_real_run_with_channels_last_and_bf16(tmp_path):
    data_root = make_tiny_dataset(tmp_path / 'shapes', num_val=4)
    config = write_demo_config(
        tmp_path / 'demo_nhwc.py', data_root,
        [dict(type='ChannelsLastHook'), dict(type='ExactResumeHook')],
        optim_wrapper=dict(type='BF16OptimWrapper'))
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), config,
                           '--work-dir', str(tmp_path / 'run')], cwd=str(REPO),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    log = next((tmp_path / 'run').glob('*/*.log')).read_text()
    assert 'ChannelsLastHook: model and backbone inputs in channels_last' in log
    assert 'Iter(train) [8/8]' in log and 'Iter(val)' in log
    state = torch.load(tmp_path / 'run' / 'iter_8.pth')['state_dict']
    fresh = build_model_from_config(DEMO, scale_down=False)
    fresh.load_state_dict(state)  # an NHWC run's checkpoint loads into an NCHW model


def test_config_trains_channels_last():
    from mmscratch.utils.config_facts import has_custom_hook
    from mmscratch.utils.config_loading import load_config
    assert has_custom_hook(load_config('configs/demo/mask_rcnn_gn_shapes_fast.py'),
                           'ChannelsLastHook')
    assert not has_custom_hook(load_config(DEMO), 'ChannelsLastHook')
