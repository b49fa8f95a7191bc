"""The backbone init: ours (Kaiming normal fan_out) and Detectron's opt-in XavierFill.

Built and measured, not read from the config: every conv of the backbone (and
the FPN) is initialized by ``init_weights()`` and its weight std is compared
with the analytic value of each scheme -- Kaiming normal fan_out,
``sqrt(2 / fan_out)``; Caffe2's XavierFill, uniform with variance ``1 / fan_in``
(std ``sqrt(1 / fan_in)``, bound ``sqrt(3 / fan_in)``). Where the two values
differ the measurement must pick the right one, so swapping the schemes fails.
"""
from __future__ import annotations

import logging
import math

import pytest
import torch
import torch.nn as nn

from mmscratch.testing import build_model
from mmscratch.utils.config_loading import load_config

REPO_CONFIGS = 'configs/scratch'
DEFAULT = f'{REPO_CONFIGS}/mask_rcnn_r50_gn_3x.py'
DETECTRON = f'{REPO_CONFIGS}/mask_rcnn_r50_gn_3x_detectron_init.py'
MIN_ELEMENTS = 1000  # enough samples for a std within a few percent
TOLERANCE = 0.1


def _fans(weight: torch.Tensor):
    receptive = weight[0, 0].numel()
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def kaiming_fan_out_std(weight):
    return math.sqrt(2.0 / _fans(weight)[1])


def xavier_fill_std(weight):
    return math.sqrt(1.0 / _fans(weight)[0])


@pytest.fixture(scope='module')
def initialized():
    from mmengine.logging import MMLogger
    models = {}
    for path in (DEFAULT, DETECTRON):
        torch.manual_seed(0)
        model = build_model(load_config(path).model)  # scaled down: same layers, fewer channels
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # init_weights logs every parameter
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        models[path] = model
    return models


def convs(model: nn.Module, prefix: str):
    found = [(n, m) for n, m in model.named_modules()
             if n.startswith(prefix) and isinstance(m, nn.Conv2d)
             and m.weight.numel() >= MIN_ELEMENTS]
    assert found, prefix
    return found


def _close(measured: float, expected: float) -> bool:
    return abs(measured / expected - 1) < TOLERANCE


@pytest.mark.parametrize('prefix', ['backbone.', 'neck.'])
def test_detectron_switch_gives_xavier_fill(initialized, prefix):
    distinct = 0
    for name, conv in convs(initialized[DETECTRON], prefix):
        w = conv.weight.detach()
        std, other = xavier_fill_std(w), kaiming_fan_out_std(w)
        assert _close(w.std().item(), std), (name, w.std().item(), std)
        # uniform: nothing beyond sqrt(3 / fan_in), where a normal would spill over
        assert w.abs().max().item() <= math.sqrt(3.0) * std + 1e-6, name
        if conv.bias is not None:
            assert torch.count_nonzero(conv.bias) == 0, name
        if not _close(other, std) and not _close(std, other):
            assert not _close(w.std().item(), other), name
            distinct += 1
    assert distinct >= 3  # layers where the two schemes can be told apart were checked


def test_default_backbone_is_kaiming_normal_fan_out(initialized):
    distinct = 0
    for name, conv in convs(initialized[DEFAULT], 'backbone.'):
        w = conv.weight.detach()
        std, other = kaiming_fan_out_std(w), xavier_fill_std(w)
        assert _close(w.std().item(), std), (name, w.std().item(), std)
        if not _close(other, std) and not _close(std, other):
            assert not _close(w.std().item(), other), name
            distinct += 1
        # normal, not uniform: some weights lie beyond sqrt(3) std
        assert w.abs().max().item() > math.sqrt(3.0) * std, name
    assert distinct >= 3


def test_heads_and_norms_are_the_same_under_both(initialized):
    for path, model in initialized.items():
        for name, conv in convs(model, 'roi_head.bbox_head.shared_convs'):
            w = conv.weight.detach()  # Detectron's MSRAFill = Kaiming normal fan_out
            assert _close(w.std().item(), kaiming_fan_out_std(w)), (path, name)
        gn = [m for n, m in model.named_modules()
              if n.startswith('backbone.') and isinstance(m, nn.GroupNorm)]
        assert gn and all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in gn)


def test_the_switch_changes_only_the_init():
    ours, theirs = load_config(DEFAULT).to_dict(), load_config(DETECTRON).to_dict()
    assert ours['model']['backbone'].pop('init_cfg') is None
    assert theirs['model']['backbone'].pop('init_cfg') == [
        dict(type='Caffe2Xavier', layer='Conv2d'),
        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
    assert 'init_cfg' not in ours['model']['neck']  # MMDetection's FPN default: Glorot uniform
    assert theirs['model']['neck'].pop('init_cfg') == dict(type='Caffe2Xavier', layer='Conv2d')
    for key in ('detectron_backbone_init', 'detectron_neck_init'):
        theirs.pop(key)
    assert ours == theirs
    from mmscratch.utils.config_facts import pretrained_sources
    assert pretrained_sources(load_config(DETECTRON)) == []  # still from scratch
