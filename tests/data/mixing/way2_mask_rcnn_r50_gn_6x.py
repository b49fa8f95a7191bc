# Way 2: the recipe imported from the installed mmscratch package into a config
# in MMEngine's pure-Python format (read_base).
# "Your config" is MMDetection's own Mask R-CNN R50-FPN 1x. The mmdet wheel ships
# no pure-Python configs, so the test writes it next to this file as
# user_mask_rcnn.py, flattened with Config.dump (a flat config is a valid
# pure-Python base).
from mmengine.config import read_base

with read_base():
    from .user_mask_rcnn import *
    from mmscratch.configs.recipes.gn import scratch_recipe

model.update(
    backbone=scratch_recipe.backbone,
    neck=scratch_recipe.neck,
    roi_head=dict(
        bbox_head=scratch_recipe.bbox_head,
        mask_head=scratch_recipe.mask_head))
train_cfg = scratch_recipe.train_cfg
param_scheduler = scratch_recipe.param_scheduler
optim_wrapper.update(scratch_recipe.optim_wrapper)
auto_scale_lr = scratch_recipe.auto_scale_lr
default_hooks.update(scratch_recipe.default_hooks)
log_processor.update(scratch_recipe.log_processor)
custom_hooks = scratch_recipe.custom_hooks
