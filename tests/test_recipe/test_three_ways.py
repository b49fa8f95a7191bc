"""The three ways to mix the recipe in give the same run, on MMDetection's own configs.

For Mask R-CNN (with and without AMP), Faster R-CNN, Cascade Mask R-CNN and
HTC, each way is resolved the way a user would write it -- way 1 ``_base_``
by path, way 2 ``read_base`` in a pure-Python config, way 3 ``scratchify`` --
and the model, optimizer (wrapper included: AMP stays AMP), schedule,
runtime and hooks compared. Way 1 cannot express a list of heads (MMEngine
cannot merge a dict into a base's list): there it must fail with one line
naming the alternatives.
"""
from pathlib import Path

import pytest
from mmengine.config import Config

from mmscratch.utils.config_loading import ConfigError, load_config as load_user_config
from mmscratch.recipe import scratchify
from mmscratch.utils.config_loading import load_config

from .test_mixing import RECIPE_KEYS, normalize

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / 'configs' / '_base_' / 'recipes' / 'gn.py'

MODELS = {
    'mask_rcnn': ('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', True, False),
    'mask_rcnn_amp': ('mmdet::mask_rcnn/mask-rcnn_r50_fpn_amp-1x_coco.py', True, False),
    'faster_rcnn': ('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', False, False),
    'cascade_mask_rcnn': ('mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py', True,
                          True),
    'htc': ('mmdet::htc/htc_r50_fpn_1x_coco.py', True, True),
}
RUNTIME_LINES = '''train_cfg = {r}.train_cfg
param_scheduler = {r}.param_scheduler
auto_scale_lr = {r}.auto_scale_lr
custom_hooks = {r}.custom_hooks
'''


def way1_text(user: str, masks: bool) -> str:
    mask = '\n        mask_head=_base_.scratch_recipe.mask_head,' if masks else ''
    return (f"_base_ = [{user!r}, {str(RECIPE)!r}]\n"
            'model = dict(\n'
            '    backbone=_base_.scratch_recipe.backbone,\n'
            '    neck=_base_.scratch_recipe.neck,\n'
            '    roi_head=dict(\n'
            f'        bbox_head=_base_.scratch_recipe.bbox_head,{mask}))\n'
            + RUNTIME_LINES.format(r='_base_.scratch_recipe')
            + 'optim_wrapper = _base_.scratch_recipe.optim_wrapper\n'
              'default_hooks = _base_.scratch_recipe.default_hooks\n'
              'log_processor = _base_.scratch_recipe.log_processor\n'
              'custom_imports = _base_.scratch_recipe.custom_imports\n')


def way2_text(user_cfg) -> str:
    """A pure-Python config as docs/configs.md writes it (a loop for lists of heads)."""
    heads = ''
    for head in ('bbox_head', 'mask_head'):
        value = user_cfg.model.roi_head.get(head)
        if isinstance(value, list):
            heads += (f'model.roi_head.{head} = [dict(h, **scratch_recipe.{head})\n'
                      f'                         for h in model.roi_head.{head}]\n')
        elif value is not None:
            heads += f'model.roi_head.{head}.update(scratch_recipe.{head})\n'
    return ('from mmengine.config import read_base\n\n'
            'with read_base():\n'
            '    from .user_config import *\n'
            '    from mmscratch.configs.recipes.gn import scratch_recipe\n\n'
            'model.backbone.update(scratch_recipe.backbone)\n'
            'model.neck.update(scratch_recipe.neck)\n'
            + heads + RUNTIME_LINES.format(r='scratch_recipe')
            + 'optim_wrapper.update(scratch_recipe.optim_wrapper)\n'
              'default_hooks.update(scratch_recipe.default_hooks)\n'
              'log_processor.update(scratch_recipe.log_processor)\n')


def recipe(cfg):
    return {key: normalize(cfg[key]) for key in RECIPE_KEYS}


@pytest.mark.parametrize('name', list(MODELS))
def test_ways_give_the_same_run(name, tmp_path):
    user, masks, lists = MODELS[name]  # lists: a list of box heads (way 1 fails)
    user_cfg = load_config(user)
    way3 = recipe(scratchify(user_cfg, 'GN', '6x'))
    user_cfg.dump(str(tmp_path / 'user_config.py'))
    (tmp_path / 'way2.py').write_text(way2_text(user_cfg))
    way2 = recipe(Config.fromfile(str(tmp_path / 'way2.py')))
    assert way2 == way3
    (tmp_path / 'way1.py').write_text(way1_text(user, masks))
    if lists:
        with pytest.raises(ConfigError, match='list of heads.*--scratchify.*read_base'):
            load_user_config(str(tmp_path / 'way1.py'))
    else:
        assert recipe(load_user_config(str(tmp_path / 'way1.py'))) == way3
    expected_wrapper = 'AmpOptimWrapper' if name.endswith('_amp') else 'OptimWrapper'
    assert way3['optim_wrapper']['type'] == expected_wrapper


def test_all_box_and_mask_heads_of_a_cascade_get_the_recipe():
    for name in ('cascade_mask_rcnn', 'htc'):
        cfg = scratchify(load_config(MODELS[name][0]), 'GN', '6x')
        bbox, mask = cfg.model.roi_head.bbox_head, cfg.model.roi_head.mask_head
        heads = list(bbox) + (list(mask) if isinstance(mask, list) else [mask])
        assert len(bbox) == 3 and len(heads) == (6 if name == 'htc' else 4)
        assert all(h['norm_cfg']['type'] == 'GN' for h in heads)
        assert {h['type'] for h in bbox} == {'Shared4Conv1FCBBoxHead'}
