# The from-scratch recipe with SyncBN, in MMEngine's pure-Python config format:
# way 2 of "Mixing the recipe into your config" (docs/configs.md). In a
# pure-Python config of yours:
#
#   from mmengine.config import read_base
#
#   with read_base():
#       from .my_mask_rcnn import *                     # your config
#       from mmscratch.configs.recipes.syncbn import scratch_recipe
#
#   model.update(
#       backbone=scratch_recipe.backbone,
#       neck=scratch_recipe.neck,
#       roi_head=dict(
#           bbox_head=scratch_recipe.bbox_head,
#           mask_head=scratch_recipe.mask_head))        # Faster R-CNN: no mask_head
#   train_cfg = scratch_recipe.train_cfg                # 6x; .schedule.multiple = 3 for 3x
#   param_scheduler = scratch_recipe.param_scheduler
#   optim_wrapper = scratch_recipe.optim_wrapper
#   auto_scale_lr = scratch_recipe.auto_scale_lr
#   default_hooks.update(scratch_recipe.default_hooks)
#   log_processor.update(scratch_recipe.log_processor)
#   custom_hooks = scratch_recipe.custom_hooks
#   randomness = scratch_recipe.randomness
#
# The values are those of the text configs (configs/_base_/recipes/syncbn.py, the
# model bases, schedules/scratch_6x.py, scratch_runtime.py); the tests hold them
# equal. mmscratch's own types are imported classes: MMEngine does not apply
# custom_imports to pure-Python configs, and building them imports mmscratch,
# which registers the rest. MMDetection's types stay strings, resolved in the
# 'mmdet' default scope of your config.
# Derived from gn.py: only the norm changes.
from mmengine.config import read_base

with read_base():
    from .gn import *  # noqa: F401,F403

norm_cfg = dict(type='SyncBN', requires_grad=True)
# random init, nothing frozen, norm layers trained, SyncBN everywhere but the RPN head
# (statements, not a loop: every top-level name of a config becomes a key)
scratch_recipe.backbone.norm_cfg = norm_cfg
scratch_recipe.neck.norm_cfg = norm_cfg
scratch_recipe.bbox_head.norm_cfg = norm_cfg
scratch_recipe.mask_head.norm_cfg = norm_cfg
