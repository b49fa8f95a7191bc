# The from-scratch recipe with GN (32 groups), in MMEngine's pure-Python config format:
# way 2 of "Mixing the recipe into your config" (docs/configs.md). In a
# pure-Python config of yours:
#
#   from mmengine.config import read_base
#
#   with read_base():
#       from .my_mask_rcnn import *                     # your config
#       from mmscratch.configs.recipes.gn import scratch_recipe
#
#   model.update(
#       backbone=scratch_recipe.backbone,
#       neck=scratch_recipe.neck,
#       roi_head=dict(
#           bbox_head=scratch_recipe.bbox_head,
#           mask_head=scratch_recipe.mask_head))        # Faster R-CNN: no mask_head
#   train_cfg = scratch_recipe.train_cfg                # 6x; .schedule.multiple = 3 for 3x
#   param_scheduler = scratch_recipe.param_scheduler
#   optim_wrapper.update(scratch_recipe.optim_wrapper)  # keeps your wrapper type (AMP)
#   auto_scale_lr = scratch_recipe.auto_scale_lr
#   default_hooks.update(scratch_recipe.default_hooks)
#   log_processor.update(scratch_recipe.log_processor)
#   custom_hooks = scratch_recipe.custom_hooks
#   randomness = scratch_recipe.randomness
#
# The values are those of the text configs (configs/_base_/recipes/gn.py, the
# model bases, schedules/scratch_6x.py, scratch_runtime.py); the tests hold them
# equal. mmscratch's own types are imported classes: MMEngine does not apply
# custom_imports to pure-Python configs, and building them imports mmscratch,
# which registers the rest. MMDetection's types stay strings, resolved in the
# 'mmdet' default scope of your config.
from mmscratch.engine.hooks.convergence_curve_hook import ConvergenceCurveHook
from mmscratch.engine.hooks.data_seen_hook import DataSeenHook
from mmscratch.engine.hooks.divergence_recovery_hook import DivergenceRecoveryHook
from mmscratch.engine.hooks.exact_resume_hook import ExactResumeHook
from mmscratch.engine.hooks.plain_data_checkpoint_hook import PlainDataCheckpointHook
from mmscratch.engine.hooks.preemption_hook import PreemptionHook
from mmscratch.engine.hooks.run_info_hook import RunInfoHook
from mmscratch.engine.hooks.safe_checkpoint_hook import SafeCheckpointHook
from mmscratch.engine.hooks.scratch_guard_hook import ScratchGuardHook
from mmscratch.engine.hooks.syncbn_check_hook import SyncBNCheckHook
from mmscratch.engine.runner.scratch_loop import ScratchIterBasedTrainLoop
from mmscratch.engine.schedulers.scratch_schedule_lr import ScratchScheduleLR

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
scratch_recipe = dict(
    # random init, nothing frozen, norm layers trained, GN (32 groups) everywhere but the RPN head
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    bbox_head=dict(
        type='Shared4Conv1FCBBoxHead',
        conv_out_channels=256,
        fc_out_channels=1024,
        norm_cfg=norm_cfg),
    mask_head=dict(norm_cfg=norm_cfg),
    # the paper's schedule rule, scaled to the real batch by the loop
    train_cfg=dict(
        type=ScratchIterBasedTrainLoop,
        schedule=dict(multiple=6),
        base_batch_size=16,
        val_interval=30000),
    param_scheduler=[dict(type=ScratchScheduleLR)],
    # the optimizer and its per-parameter rules: optim_wrapper.update(...) keeps
    # your wrapper (AmpOptimWrapper, clip_grad, accumulative_counts)
    optim_wrapper=dict(
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.)),
    auto_scale_lr=dict(enable=True, base_batch_size=16),
    # iteration-based logging and crash-safe checkpoints
    default_hooks=dict(
        logger=dict(type='LoggerHook', interval=50),
        checkpoint=dict(type=SafeCheckpointHook, by_epoch=False, interval=10000,
                        max_keep_ckpts=3)),
    log_processor=dict(type='LogProcessor', window_size=50, by_epoch=False),
    # scratch_runtime.py's scratch_custom_hooks: SyncBN check, from-scratch
    # guard, data seen, convergence curve, exact resume, divergence recovery,
    # plain-data checkpoints, run_info.json, save on pre-emption
    custom_hooks=[
        dict(type=SyncBNCheckHook),
        dict(type=ScratchGuardHook, strict=True),
        dict(type=DataSeenHook, sync_interval=50),
        dict(type=ConvergenceCurveHook, num_points=10),
        dict(type=ExactResumeHook),
        dict(type=DivergenceRecoveryHook),
        dict(type=PlainDataCheckpointHook),
        dict(type=RunInfoHook),
        dict(type=PreemptionHook),
    ],
    # a fixed seed, which ExactResumeHook needs (bit-exact resume on GPU also
    # needs deterministic=True: docs/reliability.md)
    randomness=dict(seed=0))
