"""mmscratch.scratchify and tools/train.py --scratchify on MMDetection's own configs."""
import copy

import pytest
import torch.nn as nn
from mmengine.config import ConfigDict

import mmscratch
from mmscratch.apis.train import build_parser, build_train_config
from mmscratch.recipe import parse_norm, parse_scratchify_flag, scratchify
from mmscratch.recipe.scratchify import loop_schedule
from mmscratch.recipe.scratchify import scratch_custom_hooks
from mmscratch.testing import build_model, norm_layers, strip_scope
from mmscratch.utils.config_loading import load_config, resolve_config_path

MASK_RCNN = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
FASTER_RCNN = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
CASCADE = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'
GN32 = dict(type='GN', num_groups=32, requires_grad=True)
SYNCBN = dict(type='SyncBN', requires_grad=True)
HOOK_TYPES = ['SyncBNCheckHook', 'ScratchGuardHook', 'DataSeenHook', 'ConvergenceCurveHook',
              'ExactResumeHook', 'DivergenceRecoveryHook', 'PlainDataCheckpointHook',
              'RunInfoHook', 'PreemptionHook']


@pytest.fixture(scope='module')
def mask_rcnn():
    return load_config(MASK_RCNN)


def test_exported_at_package_level():
    assert mmscratch.scratchify is scratchify


@pytest.mark.parametrize('norm,expected', [
    ('GN', GN32), ('gn', GN32), ('SyncBN', SYNCBN), ('SYNCBN', SYNCBN),
    (dict(type='GN', num_groups=16), dict(type='GN', num_groups=16)),
])
def test_parse_norm(norm, expected):
    assert parse_norm(norm) == expected


@pytest.mark.parametrize('norm', ['BN', 'LN', '', dict(num_groups=32)])
def test_parse_norm_refuses_other_norms(norm):
    with pytest.raises(ValueError):
        parse_norm(norm)


@pytest.mark.parametrize('schedule,expected', [
    ('6x', dict(multiple=6)), ('9X', dict(multiple=9)), (' 3 x ', dict(multiple=3)),
    ('2.5x', dict(multiple=2.5)), (4, dict(multiple=4)),
    (dict(total_iters=1000, drops_before_end=(200, 70), warmup_iters=10),
     dict(total_iters=1000, drops_before_end=(200, 70), warmup_iters=10)),
])
def test_loop_schedule(schedule, expected):
    assert loop_schedule(schedule) == expected


@pytest.mark.parametrize('schedule', ['six', '6', 'x', '0x', '0.5x', '12e',
                                      dict(total_iters=100)])
def test_loop_schedule_refuses_what_the_rule_cannot_do(schedule):
    with pytest.raises(ValueError):
        loop_schedule(schedule)


@pytest.mark.parametrize('flag,expected', [
    ('GN:6x', ('GN', '6x')), ('SyncBN:3x', ('SyncBN', '3x')), ('syncbn', ('syncbn', '6x')),
    ('2x', ('GN', '2x')), ('', ('GN', '6x')), ('3x:SyncBN', ('SyncBN', '3x')),
])
def test_parse_scratchify_flag(flag, expected):
    assert parse_scratchify_flag(flag) == expected


@pytest.mark.parametrize('flag', ['BN:6x', 'GN:six', 'my_config.py', 'GN:SyncBN:6x',
                                  '6x:3x'])
def test_parse_scratchify_flag_refuses_nonsense(flag):
    with pytest.raises(ValueError):
        parse_scratchify_flag(flag)


def test_mask_rcnn_gets_the_whole_recipe(mask_rcnn):
    original = copy.deepcopy(mask_rcnn.to_dict())
    cfg = scratchify(mask_rcnn, 'SyncBN', '3x')
    assert mask_rcnn.to_dict() == original, 'the input config must not change'

    model = cfg.model
    assert model.backbone.norm_cfg == SYNCBN
    assert model.backbone.init_cfg is None
    assert (model.backbone.frozen_stages, model.backbone.norm_eval) == (-1, False)
    assert model.backbone.zero_init_residual is False
    assert model.neck.norm_cfg == SYNCBN
    assert model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert (model.roi_head.bbox_head.conv_out_channels,
            model.roi_head.bbox_head.fc_out_channels) == (256, 1024)
    assert model.roi_head.bbox_head.norm_cfg == SYNCBN
    assert model.roi_head.mask_head.norm_cfg == SYNCBN
    assert 'norm_cfg' not in model.rpn_head  # as in the paper
    assert model.roi_head.bbox_head.num_classes == 80  # the rest of the head is kept

    assert cfg.load_from is None
    assert cfg.train_cfg == dict(type='ScratchIterBasedTrainLoop', schedule=dict(multiple=3),
                                 base_batch_size=16, val_interval=30000)
    assert cfg.param_scheduler == [dict(type='ScratchScheduleLR')]
    assert strip_scope(cfg.optim_wrapper) == dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.))
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    assert cfg.default_hooks.checkpoint.type == 'SafeCheckpointHook'
    assert cfg.default_hooks.checkpoint.by_epoch is False
    assert cfg.log_processor.by_epoch is False
    assert cfg.custom_imports.imports == ['mmscratch']
    assert [h['type'] for h in cfg.custom_hooks] == HOOK_TYPES
    assert dict(type='ScratchGuardHook', strict=True) in cfg.custom_hooks
    assert cfg.randomness == dict(seed=0)
    # the data and the model's train/test settings are the user's
    assert cfg.train_dataloader == mask_rcnn.train_dataloader
    assert cfg.model.train_cfg == mask_rcnn.model.train_cfg


def test_the_result_builds_with_the_norm_everywhere_but_the_rpn(mask_rcnn):
    model = build_model(scratchify(mask_rcnn, 'GN').model)
    layers = dict(norm_layers(model))
    assert all(isinstance(m, nn.GroupNorm) for m in layers.values())
    for part in ('backbone.', 'neck.', 'roi_head.bbox_head', 'roi_head.mask_head'):
        assert any(name.startswith(part) for name in layers), part
    assert not any(name.startswith('rpn_head') for name in layers)
    assert all(p.requires_grad for p in model.parameters())


def test_registry_scoped_type_names_are_accepted(mask_rcnn):
    """``'mmdet.ResNet'`` is MMDetection's ResNet: scratchified and built like ``'ResNet'``."""
    scoped = copy.deepcopy(mask_rcnn)
    scoped.model.backbone.type = 'mmdet.ResNet'
    scoped.model.neck.type = 'mmdet.FPN'
    scoped.model.roi_head.bbox_head.type = 'mmdet.Shared2FCBBoxHead'
    scoped.model.roi_head.mask_head.type = 'mmdet.FCNMaskHead'
    cfg = scratchify(scoped, 'GN')
    plain = scratchify(mask_rcnn, 'GN')
    assert cfg.model.backbone.norm_cfg == GN32 == plain.model.backbone.norm_cfg
    assert cfg.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert cfg.model.roi_head.mask_head.norm_cfg == GN32
    layers = dict(norm_layers(build_model(cfg.model)))
    assert layers and all(isinstance(m, nn.GroupNorm) for m in layers.values())
    assert set(layers) == set(dict(norm_layers(build_model(plain.model))))


def test_idempotent(mask_rcnn):
    once = scratchify(mask_rcnn, 'GN', '6x')
    twice = scratchify(once, 'GN', '6x')
    assert twice.to_dict() == once.to_dict()


def test_faster_rcnn_gets_no_mask_head():
    cfg = scratchify(load_config(FASTER_RCNN), 'GN', '2x')
    assert 'mask_head' not in cfg.model.roi_head
    assert cfg.model.roi_head.bbox_head.norm_cfg == GN32
    build_model(cfg.model)


def test_cascade_keeps_each_stage_and_equals_our_cascade_model():
    cfg = scratchify(load_config(CASCADE), 'GN', '9x')
    stds = [h.bbox_coder.target_stds for h in cfg.model.roi_head.bbox_head]
    assert stds == [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]
    assert all(h.type == 'Shared4Conv1FCBBoxHead' and h.norm_cfg == GN32
               for h in cfg.model.roi_head.bbox_head)
    ours = load_config('mmscratch::scratch/cascade_mask_rcnn_r50_gn_ms_9x.py')
    assert strip_scope(cfg.model.to_dict()) == strip_scope(ours.model.to_dict())


def test_removes_every_pretrained_initialization(mask_rcnn):
    cfg = copy.deepcopy(mask_rcnn)
    cfg.load_from = 'checkpoints/mask_rcnn_coco.pth'
    cfg.model.pretrained = 'torchvision://resnet50'
    cfg.model.neck.init_cfg = [dict(type='Pretrained', checkpoint='x.pth'),
                               dict(type='Xavier', layer='Conv2d')]
    out = scratchify(cfg)
    assert out.load_from is None
    assert 'pretrained' not in out.model
    assert out.model.neck.init_cfg == [dict(type='Xavier', layer='Conv2d')]
    assert 'Pretrained' not in out.pretty_text


def test_keeps_mixed_precision(mask_rcnn):
    cfg = copy.deepcopy(mask_rcnn)
    cfg.optim_wrapper = ConfigDict(type='AmpOptimWrapper', loss_scale='dynamic',
                                   optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.99)),
                                   clip_grad=dict(max_norm=1))
    out = scratchify(cfg)
    # the wrapper is the user's (mixed precision, gradient clipping), the
    # optimizer and its per-parameter rules the recipe's
    assert out.optim_wrapper == dict(
        type='AmpOptimWrapper', loss_scale='dynamic', clip_grad=dict(max_norm=1),
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.))


def test_keeps_the_users_imports_and_hooks(mask_rcnn):
    cfg = copy.deepcopy(mask_rcnn)
    cfg.custom_imports = dict(imports=['my_project'], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='EMAHook')]
    out = scratchify(cfg, 'SyncBN')
    assert out.custom_imports.imports == ['my_project', 'mmscratch']
    assert [h['type'] for h in out.custom_hooks] == ['EMAHook'] + HOOK_TYPES


def test_adds_only_the_hooks_the_user_does_not_have(mask_rcnn):
    cfg = copy.deepcopy(mask_rcnn)
    cfg.custom_hooks = [dict(type='ConvergenceCurveHook', num_points=24),
                        dict(type='ScratchGuardHook', strict=False)]
    out = scratchify(cfg)
    assert [h['type'] for h in out.custom_hooks] == [
        'ConvergenceCurveHook', 'ScratchGuardHook', 'SyncBNCheckHook', 'DataSeenHook',
        'ExactResumeHook', 'DivergenceRecoveryHook', 'PlainDataCheckpointHook', 'RunInfoHook',
        'PreemptionHook']
    # the user's own settings of a hook are kept
    assert out.custom_hooks[:2] == cfg.custom_hooks


def test_hooks_and_seed_are_scratch_runtimes():
    runtime = load_config('mmscratch::_base_/scratch_runtime.py').to_dict()
    assert strip_scope(runtime['scratch_custom_hooks']) == scratch_custom_hooks()
    assert runtime['randomness'] == dict(seed=0)


def test_checkpoint_hook_becomes_safe_and_keeps_the_users_options(mask_rcnn):
    cfg = copy.deepcopy(mask_rcnn)
    cfg.default_hooks.checkpoint = ConfigDict(
        type='CheckpointHook', interval=1, save_best='coco/bbox_mAP', rule='greater',
        out_dir='s3://bucket/ckpts')
    checkpoint = scratchify(cfg).default_hooks.checkpoint
    assert strip_scope(checkpoint) == dict(
        type='SafeCheckpointHook', save_best='coco/bbox_mAP', rule='greater',
        out_dir='s3://bucket/ckpts', by_epoch=False, interval=10000, max_keep_ckpts=3)


def test_checkpoint_hook_class_becomes_the_safe_class(mask_rcnn):
    from mmengine.hooks import CheckpointHook
    from mmscratch.engine.hooks import SafeCheckpointHook
    cfg = copy.deepcopy(mask_rcnn)
    cfg.default_hooks.checkpoint = ConfigDict(type=CheckpointHook, interval=1)
    assert scratchify(cfg).default_hooks.checkpoint.type is SafeCheckpointHook


@pytest.mark.parametrize('checkpoint', [
    None, ConfigDict(type='MyCheckpointHook', interval=1),
    ConfigDict(type='SafeCheckpointHook', interval=1)])
def test_checkpoint_hook_of_another_type_is_kept(mask_rcnn, checkpoint):
    cfg = copy.deepcopy(mask_rcnn)
    if checkpoint is None:
        del cfg.default_hooks['checkpoint']
    else:
        cfg.default_hooks.checkpoint = checkpoint
    out = scratchify(cfg).default_hooks.checkpoint
    assert out.type == (checkpoint.type if checkpoint else 'SafeCheckpointHook')
    assert (out.by_epoch, out.interval, out.max_keep_ckpts) == (False, 10000, 3)


@pytest.mark.parametrize('randomness,expected', [
    (None, dict(seed=0)),
    (dict(seed=42, deterministic=True), dict(seed=42, deterministic=True)),
    (dict(seed=None, diff_rank_seed=True), dict(seed=0, diff_rank_seed=True)),
])
def test_sets_a_seed_unless_the_user_has_one(mask_rcnn, randomness, expected):
    cfg = copy.deepcopy(mask_rcnn)
    if randomness is not None:
        cfg.randomness = ConfigDict(randomness)
    assert scratchify(cfg).randomness == expected


@pytest.mark.parametrize('config,match', [
    ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 'roi_head'),
    ('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', 'ResNet-family'),
    ('mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py', 'FPN'),
])
def test_refuses_models_the_recipe_does_not_fit(config, match):
    with pytest.raises(ValueError, match=match):
        scratchify(load_config(config))


def parse(argv):
    return build_parser().parse_args(argv)


def test_cli_flag(tmp_path):
    path = resolve_config_path(MASK_RCNN)
    args = parse([path, '--scratchify', 'SyncBN:3x', '--work-dir', str(tmp_path),
                  '--cfg-options', 'train_cfg.val_interval=5000'])
    cfg = build_train_config(args)
    assert cfg.model.backbone.norm_cfg == SYNCBN
    assert cfg.train_cfg.schedule == dict(multiple=3)
    # --cfg-options apply after the recipe, so they can adjust it
    assert cfg.train_cfg.val_interval == 5000
    assert cfg.work_dir == str(tmp_path)


def test_cli_flag_without_a_value_is_gn_6x(tmp_path):
    path = resolve_config_path(MASK_RCNN)
    cfg = build_train_config(parse([path, '--scratchify', '--work-dir', str(tmp_path)]))
    assert cfg.model.backbone.norm_cfg == GN32
    assert cfg.train_cfg.schedule == dict(multiple=6)


def test_cli_without_the_flag_leaves_the_config_alone(tmp_path):
    path = resolve_config_path(MASK_RCNN)
    cfg = build_train_config(parse([path, '--work-dir', str(tmp_path)]))
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.model.backbone.norm_cfg.type == 'BN'


def test_cli_flag_refuses_nonsense(tmp_path):
    path = resolve_config_path(MASK_RCNN)
    with pytest.raises(ValueError):
        build_train_config(parse([path, '--scratchify', 'BN:6x', '--work-dir', str(tmp_path)]))


def test_cli_flag_is_documented_in_help_and_off_by_default():
    assert '--scratchify' in build_parser().format_help()
    assert parse(['x.py']).scratchify is None
