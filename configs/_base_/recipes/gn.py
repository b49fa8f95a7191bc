# The from-scratch recipe with GN (32 groups), as one namespaced dict to put on top of a
# complete config of yours -- way 1 of "Mixing the recipe into your config" in
# docs/configs.md:
#
#   _base_ = [
#       'my_mask_rcnn.py',                                   # your config, unchanged
#       '/path/to/mmscratch/configs/_base_/recipes/gn.py',  # defines scratch_recipe
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
# are those of configs/_base_/models/*_gn.py, schedules/scratch_6x.py and
# scratch_runtime.py (tests/test_recipe/test_mixing.py holds them equal).
# A config already using another norm than BN is better served by
# mmscratch.scratchify, which replaces norm_cfg instead of merging into it.
# A dunder name stays out of the loaded config, so it cannot clash with a
# norm_cfg of your own config.
__norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
scratch_recipe = dict(
    # random init, nothing frozen, norm layers trained, GN (32 groups) everywhere but the RPN head
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=__norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=None),
    neck=dict(norm_cfg=__norm_cfg),
    bbox_head=dict(
        type='Shared4Conv1FCBBoxHead',
        conv_out_channels=256,
        fc_out_channels=1024,
        norm_cfg=__norm_cfg),
    mask_head=dict(norm_cfg=__norm_cfg),
    # the paper's schedule rule, scaled to the real batch by the loop
    train_cfg=dict(
        _delete_=True,
        type='ScratchIterBasedTrainLoop',
        schedule=dict(multiple=6),
        base_batch_size=16,
        val_interval=30000),
    param_scheduler=[dict(type='ScratchScheduleLR')],
    # the optimizer and its per-parameter rules; the wrapper stays your config's
    # (AmpOptimWrapper keeps mixed precision, clip_grad and accumulative_counts stay)
    optim_wrapper=dict(
        optimizer=dict(_delete_=True, type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.)),
    auto_scale_lr=dict(enable=True, base_batch_size=16),
    # iteration-based logging and crash-safe checkpoints
    default_hooks=dict(
        logger=dict(type='LoggerHook', interval=50),
        checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=10000,
                        max_keep_ckpts=3)),
    log_processor=dict(type='LogProcessor', window_size=50, by_epoch=False),
    custom_imports=dict(imports=['mmscratch'], allow_failed_imports=False),
    # scratch_runtime.py's scratch_custom_hooks: SyncBN check, from-scratch
    # guard, data seen, convergence curve, exact resume, divergence recovery,
    # plain-data checkpoints, run_info.json, save on pre-emption
    custom_hooks=[
        dict(type='SyncBNCheckHook'),
        dict(type='ScratchGuardHook', strict=True),
        dict(type='DataSeenHook', sync_interval=50),
        dict(type='ConvergenceCurveHook', num_points=10),
        dict(type='ExactResumeHook'),
        dict(type='DivergenceRecoveryHook'),
        dict(type='PlainDataCheckpointHook'),
        dict(type='RunInfoHook'),
        dict(type='PreemptionHook'),
    ],
    # a fixed seed, which ExactResumeHook needs (bit-exact resume on GPU also
    # needs deterministic=True: docs/reliability.md)
    randomness=dict(seed=0))
