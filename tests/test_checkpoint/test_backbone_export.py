"""The pre-trained backbone as MMDetection loads ImageNet weights: key layout, the
twin's init_cfg=Pretrained, the safe loader, and files that attack the export."""
import os
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmscratch.checkpoint import CheckpointRefused
from mmscratch.checkpoint.backbone_export import (backbone_state_dict, export_backbone,
                                                  load_backbone_checkpoint,
                                                  save_backbone_checkpoint)
from mmscratch.engine.hooks import BackboneExportHook
from mmscratch.engine.hooks.scratch_guard_hook import _pretrained_inits
from mmscratch.utils.config_facts import pretrained_sources

from . import forge

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py'
TWIN = REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes_pretrained.py'
PRETRAIN = REPO / 'configs' / 'demo' / 'resnet18_gn_cls_pretrain.py'


def build(cfg_model):
    import mmscratch  # noqa: F401,F811  (registers the classifier)
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    return MODELS.build(cfg_model)


@pytest.fixture(scope='module')
def classifier():
    torch.manual_seed(0)
    model = build(Config.fromfile(str(PRETRAIN)).model)
    with torch.no_grad():  # weights no random init would give
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model


@pytest.fixture(scope='module')
def exported(classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp('export') / 'backbone.pth'
    sha = save_backbone_checkpoint(str(path), backbone_state_dict(classifier.backbone),
                                   dict(iterations=7))
    return path, sha


def test_pretraining_backbone_is_the_demo_backbone():
    demo = Config.fromfile(str(DEMO)).model.backbone.to_dict()
    pre = Config.fromfile(str(PRETRAIN))
    assert pre.model.backbone.to_dict() == demo
    twin = Config.fromfile(str(TWIN))
    assert {k: v for k, v in twin.model.backbone.items() if k not in ('init_cfg',
                                                                       'frozen_stages')} \
        == {k: v for k, v in demo.items() if k not in ('init_cfg', 'frozen_stages')}
    # the detector's input normalization, so fine-tuning sees what pre-training saw
    det = Config.fromfile(str(DEMO)).model.data_preprocessor
    for key in ('mean', 'std', 'bgr_to_rgb'):
        assert pre.model.data_preprocessor[key] == det[key]


def test_export_is_the_bare_backbone_layout_and_plain_data(classifier, exported):
    path, sha = exported
    raw = torch.load(path, weights_only=True)  # nothing allow-listed
    assert set(raw) == {'state_dict', 'meta'}
    assert list(raw['state_dict']) == list(classifier.backbone.state_dict())
    assert not any(k.startswith(('backbone.', 'head.')) for k in raw['state_dict'])
    state, meta = load_backbone_checkpoint(str(path))
    assert meta == dict(iterations=7)
    fresh = build(Config.fromfile(str(DEMO)).model.backbone)
    result = fresh.load_state_dict(state, strict=True)  # no missing, no unexpected key
    assert not result.missing_keys and not result.unexpected_keys
    import hashlib
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_twin_loads_it_through_init_cfg_pretrained(classifier, exported):
    path, _ = exported
    cfg = Config.fromfile(str(TWIN))
    cfg.model.backbone.init_cfg.checkpoint = str(path)
    detector = build(cfg.model)
    assert _pretrained_inits(detector) == [f'backbone: Pretrained({path})']
    assert pretrained_sources(cfg) == [f'model.backbone.init_cfg: Pretrained({path})']
    detector.init_weights()
    for key, value in classifier.backbone.state_dict().items():
        assert torch.equal(detector.backbone.state_dict()[key], value), key
    # fine-tuning: stem and res2 frozen (Detectron's FREEZE_AT=2), the rest trained,
    # GN in training mode past the frozen stages
    detector.train()
    frozen = {n for n, p in detector.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(('backbone.conv1', 'backbone.gn1', 'backbone.layer1.'))
                          for n in frozen)
    assert 'backbone.layer1.0.conv1.weight' in frozen and 'backbone.conv1.weight' in frozen
    assert detector.backbone.layer2[0].gn1.training
    # the scratch twin initializes nothing from a file
    scratch = Config.fromfile(str(DEMO))
    assert pretrained_sources(scratch) == []


def test_export_from_a_classifier_checkpoint_and_never_over_a_file(classifier, tmp_path):
    src = tmp_path / 'iter_9.pth'
    torch.save({'state_dict': classifier.state_dict(), 'meta': {}}, src)
    info = export_backbone(str(src), str(tmp_path / 'b.pth'))
    state, meta = load_backbone_checkpoint(str(tmp_path / 'b.pth'))
    assert info['keys'] == len(state) == len(classifier.backbone.state_dict())
    assert meta['prefix'] == 'backbone.'
    with pytest.raises(FileExistsError):
        export_backbone(str(src), str(tmp_path / 'b.pth'))
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    os.symlink(victim, tmp_path / 'link.pth')
    with pytest.raises(FileExistsError):
        export_backbone(str(src), str(tmp_path / 'link.pth'))
    assert victim.read_text() == 'keep me'
    with pytest.raises(ValueError, match='prefix'):
        export_backbone(str(src), str(tmp_path / 'c.pth'), prefix='neck.')


def test_a_forged_backbone_file_is_refused(tmp_path):
    sentinel = tmp_path / 'ran'
    path = forge.runs_a_command(str(tmp_path / 'forged.pth'), str(sentinel))
    with pytest.raises(CheckpointRefused):
        load_backbone_checkpoint(path)
    assert not sentinel.exists()
    torch.save({'state_dict': {'conv1.weight': [1, 2]}}, tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='not a backbone checkpoint'):
        load_backbone_checkpoint(str(tmp_path / 'bad.pth'))


@pytest.mark.parametrize('name', ['../backbone.pth', '/tmp/x.pth', 'backbone.pt'])
def test_export_hook_takes_a_plain_file_name(name):
    with pytest.raises(ValueError, match='plain'):
        BackboneExportHook(filename=name)
