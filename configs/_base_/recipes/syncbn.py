# The from-scratch recipe with SyncBN, as one namespaced dict to put on top of a
# complete config of yours -- way 1 of "Mixing the recipe into your config" in
# docs/configs.md:
#
#   _base_ = [
#       'my_mask_rcnn.py',                                   # your config, unchanged
#       '/path/to/mmscratch/configs/_base_/recipes/syncbn.py',  # defines scratch_recipe
#   ]
#   model = dict(
#       backbone=_base_.scratch_recipe.backbone,
#       neck=_base_.scratch_recipe.neck,
#       roi_head=dict(
#           bbox_head=_base_.scratch_recipe.bbox_head,
#           mask_head=_base_.scratch_recipe.mask_head))   # Faster R-CNN: no mask_head
#   train_cfg = _base_.scratch_recipe.train_cfg  # 6x; or dict(..., schedule=dict(multiple=3))
#   param_scheduler = _base_.scratch_recipe.param_scheduler
#   ... and the same for optim_wrapper, auto_scale_lr, default_hooks, log_processor,
#   custom_imports, custom_hooks and randomness.
#
# Why one key: MMEngine refuses two bases that define the same top-level key, and
# your config already has model, train_cfg, ...; so the recipe cannot override
# them as a sibling base, and your config takes them from it instead. The values
# are those of configs/_base_/models/*_syncbn.py, schedules/scratch_6x.py and
# scratch_runtime.py (tests/test_recipe/test_mixing.py holds them equal).
# A config already using another norm than BN is better served by
# mmscratch.scratchify, which replaces norm_cfg instead of merging into it.
# Derived from gn.py, only the norm changes. A dunder name stays out of the loaded
# config, so it cannot clash with a norm_cfg of your own config; _delete_ replaces
# GN's norm_cfg instead of merging into it (which would keep num_groups).
_base_ = './gn.py'

__norm_cfg = dict(_delete_=True, type='SyncBN', requires_grad=True)
scratch_recipe = dict(
    # random init, nothing frozen, norm layers trained, SyncBN everywhere but the RPN head
    backbone=dict(norm_cfg=__norm_cfg),
    neck=dict(norm_cfg=__norm_cfg),
    bbox_head=dict(norm_cfg=__norm_cfg),
    mask_head=dict(norm_cfg=__norm_cfg))
