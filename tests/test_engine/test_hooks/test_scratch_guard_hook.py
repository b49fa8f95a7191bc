from unittest import mock

import pytest
import torch.nn as nn

from mmscratch.engine.hooks import ScratchGuardError, ScratchGuardHook
from mmscratch.engine.hooks.scratch_guard_hook import norm_summary

from mmscratch.testing.runners import make_mock_runner


class TinyDetector(nn.Module):
    """backbone / neck / roi_head.bbox_head groups with configurable norms."""

    def __init__(self, norm='GN', norm_eval=False, frozen=False, init_cfg=None):
        super().__init__()

        def norm_layer(c):
            return {'GN': lambda: nn.GroupNorm(2, c), 'BN': lambda: nn.BatchNorm2d(c),
                    'SyncBN': lambda: nn.SyncBatchNorm(c)}[norm]()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), norm_layer(4))
        self.backbone.init_cfg = init_cfg
        self.neck = nn.Sequential(nn.Conv2d(4, 4, 1), norm_layer(4))
        self.roi_head = nn.Module()
        self.roi_head.bbox_head = nn.Sequential(nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4))
        self.norm_eval = norm_eval
        if frozen:
            for p in self.backbone[0].parameters():
                p.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self


def _runner(tmp_path, model, batch=2, cfg=None):
    runner = make_mock_runner(tmp_path, model=model, batch_size=batch, cfg=cfg)
    runner.optim_wrapper.param_groups = [dict(lr=0.02)]
    runner.param_schedulers = []
    return runner


def test_accepts_gn_from_scratch_and_logs_summary(tmp_path, caplog):
    runner = _runner(tmp_path, TinyDetector('GN'))
    hook = ScratchGuardHook()
    assert hook.find_problems(runner) == []
    summary = hook.summary(runner)
    assert 'backbone' in summary and 'GN x1' in summary
    assert 'roi_head.bbox_head' in summary
    assert '2 images/GPU x 1 = 2' in summary
    hook.before_train(runner)  # does not raise


@pytest.mark.parametrize('make, expected', [
    (lambda: (TinyDetector('GN', frozen=True), {}), 'frozen parameter'),
    (lambda: (TinyDetector('BN'), {}), 'plain BatchNorm'),
    (lambda: (TinyDetector('BN', norm_eval=True), {}), 'eval mode'),
    (lambda: (TinyDetector('GN', init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')), {}),
     'pretrained init'),
    (lambda: (TinyDetector('GN'), dict(load_from='weights.pth')), 'load_from'),
    (lambda: (TinyDetector('SyncBN'), {}), 'SyncBN'),
])
def test_rejects_runs_that_are_not_from_scratch(tmp_path, make, expected):
    model, cfg = make()
    runner = _runner(tmp_path, model, cfg=cfg)
    with pytest.raises(ScratchGuardError, match=expected):
        ScratchGuardHook(strict=True).before_train(runner)


def test_lenient_mode_warns(tmp_path, caplog):
    runner = _runner(tmp_path, TinyDetector('GN', frozen=True))
    ScratchGuardHook(strict=False).before_train(runner)  # no raise
    assert 'Not a from-scratch run' in caplog.text


def test_resume_with_load_from_is_fine(tmp_path):
    runner = _runner(tmp_path, TinyDetector('GN'), cfg=dict(load_from='iter_10.pth', resume=True))
    assert ScratchGuardHook().find_problems(runner) == []


def test_bn_with_enough_images_is_accepted(tmp_path):
    runner = _runner(tmp_path, TinyDetector('BN'), batch=16)
    assert ScratchGuardHook(min_bn_images=8).find_problems(runner) == []


def test_syncbn_in_a_real_process_group_is_accepted(tmp_path):
    runner = _runner(tmp_path, TinyDetector('SyncBN'))
    with mock.patch('mmscratch.engine.hooks.scratch_guard_hook.is_distributed', return_value=True), \
            mock.patch('mmscratch.engine.hooks.scratch_guard_hook.get_world_size', return_value=8):
        assert ScratchGuardHook().find_problems(runner) == []


def test_norm_summary_groups():
    summary = norm_summary(TinyDetector('BN'))
    assert summary['backbone'] == {'BN': 1}
    assert summary['roi_head.bbox_head'] == {'GN': 1}
