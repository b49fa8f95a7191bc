"""The three ways to mix the recipe into a config, on MMDetection's own Mask R-CNN.

"Your config" is ``mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py`` (BN frozen
in stage 1, ImageNet weights, 12 epochs). Each way must turn it into exactly
the recipe of ``configs/scratch/mask_rcnn_r50_gn_6x.py`` -- same model, same
schedule, optimizer and runtime -- while keeping the user's data:

1. ``_base_`` by path: ``tests/data/mixing/way1_mask_rcnn_r50_gn_6x.py``;
2. ``read_base`` from the installed package (pure-Python config):
   ``tests/data/mixing/way2_mask_rcnn_r50_gn_6x.py``;
3. ``mmscratch.scratchify`` (and ``tools/train.py --scratchify``, see
   test_scratchify.py).
"""
from pathlib import Path

import pytest
import torch.nn as nn
from mmengine.config import Config

from mmscratch.recipe import scratchify
from mmscratch.engine.hooks import (ConvergenceCurveHook, DataSeenHook, DivergenceRecoveryHook,
                                    ExactResumeHook, PlainDataCheckpointHook, PreemptionHook,
                                    RunInfoHook, SafeCheckpointHook, ScratchGuardHook,
                                    SyncBNCheckHook)
from mmscratch.engine.runner import ScratchIterBasedTrainLoop
from mmscratch.engine.schedulers import ScratchScheduleLR
from mmscratch.testing import build_model, norm_layers
from mmscratch.utils.config_loading import load_config

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / 'tests' / 'data' / 'mixing'
USER_CONFIG = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
RECIPE_KEYS = ('model', 'train_cfg', 'val_cfg', 'test_cfg', 'param_scheduler',
               'optim_wrapper', 'auto_scale_lr', 'default_hooks', 'log_processor',
               'custom_hooks')


def normalize(node):
    """Comparable across config formats: no ``_scope_``, classes by their name."""
    if isinstance(node, dict):
        return {k: normalize(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return [normalize(v) for v in node]
    if isinstance(node, type):
        return node.__name__
    return node


def recipe_of(cfg):
    return {key: normalize(cfg[key]) for key in RECIPE_KEYS}


@pytest.fixture(scope='module')
def user_config():
    return load_config(USER_CONFIG)


@pytest.fixture(scope='module')
def ours():
    return load_config('mmscratch::scratch/mask_rcnn_r50_gn_6x.py')


def way1(norm='gn', schedule_line='train_cfg = _base_.scratch_recipe.train_cfg', tmp=None):
    if tmp is None:
        return load_config(str(DATA / 'way1_mask_rcnn_r50_gn_6x.py'))
    text = (DATA / 'way1_mask_rcnn_r50_gn_6x.py').read_text()
    text = text.replace("'../../../configs/_base_/recipes/gn.py'",
                        repr(str(REPO / 'configs' / '_base_' / 'recipes' / f'{norm}.py')))
    text = text.replace('train_cfg = _base_.scratch_recipe.train_cfg', schedule_line)
    path = tmp / f'way1_{norm}.py'
    path.write_text(text)
    return load_config(str(path))


def way2(tmp: Path, user_config, norm='gn', extra=''):
    """The user's config as a flat pure-Python file next to their scratch config."""
    user_config.dump(str(tmp / 'user_mask_rcnn.py'))
    text = (DATA / 'way2_mask_rcnn_r50_gn_6x.py').read_text()
    text = text.replace('mmscratch.configs.recipes.gn', f'mmscratch.configs.recipes.{norm}')
    path = tmp / f'way2_{norm}.py'
    path.write_text(text + extra)
    return Config.fromfile(str(path))


@pytest.fixture(scope='module')
def mixed(tmp_path_factory, user_config):
    tmp = tmp_path_factory.mktemp('way2')
    return {
        'way1_base_by_path': way1(),
        'way2_read_base': way2(tmp, user_config),
        'way3_scratchify': scratchify(user_config, 'GN', '6x'),
    }


WAYS = ['way1_base_by_path', 'way2_read_base', 'way3_scratchify']


@pytest.mark.parametrize('way', WAYS)
def test_gives_exactly_our_recipe(way, mixed, ours):
    assert recipe_of(mixed[way]) == recipe_of(ours)


@pytest.mark.parametrize('way', WAYS)
def test_keeps_the_users_data(way, mixed, user_config):
    for key in ('train_dataloader', 'val_dataloader', 'val_evaluator'):
        assert normalize(mixed[way][key]) == normalize(user_config[key])


@pytest.mark.parametrize('way', WAYS)
def test_turns_the_pretrained_frozen_bn_model_into_the_scratch_one(way, mixed, user_config):
    before, after = user_config.model, mixed[way].model
    assert before.backbone.init_cfg.type == 'Pretrained' and after.backbone.init_cfg is None
    assert before.backbone.frozen_stages == 1 and after.backbone.frozen_stages == -1
    assert before.backbone.norm_eval is True and after.backbone.norm_eval is False
    assert normalize(after.backbone.norm_cfg) == dict(type='GN', num_groups=32,
                                                      requires_grad=True)
    assert normalize(mixed[way].train_cfg)['type'] == 'ScratchIterBasedTrainLoop'
    model = build_model(after)
    layers = dict(norm_layers(model))
    assert layers and all(isinstance(m, nn.GroupNorm) for m in layers.values())
    assert all(p.requires_grad for p in model.parameters())


def test_way1_with_syncbn_and_another_schedule(tmp_path):
    cfg = way1('syncbn', 'train_cfg = dict(_base_.scratch_recipe.train_cfg, '
               'schedule=dict(multiple=3))', tmp_path)
    assert recipe_of(cfg) == recipe_of(load_config('mmscratch::scratch/mask_rcnn_r50_syncbn_3x.py'))


def test_way2_with_syncbn_and_another_schedule(tmp_path, user_config):
    cfg = way2(tmp_path, user_config, 'syncbn', extra='train_cfg.schedule.multiple = 3\n')
    ours = load_config('mmscratch::scratch/mask_rcnn_r50_syncbn_3x.py')
    assert recipe_of(cfg) == recipe_of(ours)


def test_way2_types_import_mmscratch(mixed):
    """Pure-Python configs ignore custom_imports: mmscratch's classes are imported."""
    cfg = mixed['way2_read_base']
    assert cfg.train_cfg['type'] is ScratchIterBasedTrainLoop
    assert cfg.param_scheduler[0]['type'] is ScratchScheduleLR
    assert cfg.default_hooks.checkpoint['type'] is SafeCheckpointHook
    assert [h['type'] for h in cfg.custom_hooks] == [
        SyncBNCheckHook, ScratchGuardHook, DataSeenHook, ConvergenceCurveHook,
        ExactResumeHook, DivergenceRecoveryHook, PlainDataCheckpointHook, RunInfoHook,
        PreemptionHook]


@pytest.mark.parametrize('way', WAYS)
def test_gives_the_reliability_and_analysis_hooks(way, mixed):
    cfg = recipe_of(mixed[way])
    assert cfg['default_hooks']['checkpoint']['type'] == 'SafeCheckpointHook'
    assert [h['type'] for h in cfg['custom_hooks']] == [
        'SyncBNCheckHook', 'ScratchGuardHook', 'DataSeenHook', 'ConvergenceCurveHook',
        'ExactResumeHook', 'DivergenceRecoveryHook', 'PlainDataCheckpointHook', 'RunInfoHook',
        'PreemptionHook']
    assert dict(type='ScratchGuardHook', strict=True) in cfg['custom_hooks']


@pytest.mark.parametrize('way', WAYS)
def test_gives_our_seed(way, mixed, ours):
    """ExactResumeHook needs a fixed seed: scratchify sets it, the recipe carries it.

    (tests/data/mixing/ keeps the user's randomness, so ways 1 and 2 are checked on
    the recipe their config holds.)
    """
    cfg = mixed[way]
    randomness = cfg.randomness if way == 'way3_scratchify' else cfg.scratch_recipe.randomness
    assert ours.randomness == dict(seed=0)
    assert normalize(randomness) == normalize(ours.randomness)


@pytest.mark.parametrize('norm', ['gn', 'syncbn'])
def test_text_and_pure_python_recipes_agree(norm):
    text = load_config(f'mmscratch::_base_/recipes/{norm}.py').scratch_recipe.to_dict()
    # the text form merges into your config, the other assigns / updates
    assert text['train_cfg'].pop('_delete_') is True
    assert text['optim_wrapper']['optimizer'].pop('_delete_') is True
    assert 'type' not in text['optim_wrapper']  # your wrapper (e.g. AMP) stays
    text.pop('custom_imports')  # pure-Python configs import classes instead
    pure = Config.fromfile(
        str(REPO / 'mmscratch' / 'configs' / 'recipes' / f'{norm}.py')).scratch_recipe
    assert normalize(pure) == normalize(text)

