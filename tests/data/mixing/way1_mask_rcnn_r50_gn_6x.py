# Way 1: the recipe put on top of a complete config by path (_base_).
# "Your config" here is MMDetection's own Mask R-CNN R50-FPN 1x; the recipe file
# is found by its path in this repository (in an installed mmscratch, under
# mmscratch/.mim/configs/_base_/recipes/).
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../../../configs/_base_/recipes/gn.py',
]
model = dict(
    backbone=_base_.scratch_recipe.backbone,
    neck=_base_.scratch_recipe.neck,
    roi_head=dict(
        bbox_head=_base_.scratch_recipe.bbox_head,
        mask_head=_base_.scratch_recipe.mask_head))
train_cfg = _base_.scratch_recipe.train_cfg
param_scheduler = _base_.scratch_recipe.param_scheduler
optim_wrapper = _base_.scratch_recipe.optim_wrapper
auto_scale_lr = _base_.scratch_recipe.auto_scale_lr
default_hooks = _base_.scratch_recipe.default_hooks
log_processor = _base_.scratch_recipe.log_processor
custom_imports = _base_.scratch_recipe.custom_imports
custom_hooks = _base_.scratch_recipe.custom_hooks
