# Runtime shared by every mmscratch config: MMDetection's default runtime made
# iteration-based (the paper counts iterations), mmscratch imported, crash-safe
# checkpoints, and mmscratch's reliability and analysis hooks.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmscratch'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # Every 10k iterations, keeping the last 3: a preempted 540k-iteration run
    # loses at most ~1/54 of its work and the disk holds ~1 GB of checkpoints.
    # SafeCheckpointHook is CheckpointHook (same options) saving in a crash-safe
    # order: a kill mid-save still leaves a loadable last_checkpoint
    # (mmscratch/engine/hooks/safe_checkpoint_hook.py, docs/reliability.md).
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=10000,
                    max_keep_ckpts=3))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

# The hooks of a from-scratch run (mmscratch/engine/hooks/, one per file):
scratch_custom_hooks = [
    # a no-op unless the model has SyncBN layers: then it stops a run without a
    # process group of >= 2 processes, where MMEngine would silently fall back to
    # per-GPU BN over 2 images
    dict(type='SyncBNCheckHook'),
    # refuses, before the first iteration, a run that is not from scratch:
    # load_from, Pretrained init_cfg, frozen parameters, norm_eval, frozen BN
    dict(type='ScratchGuardHook', strict=True),
    # images / instances / pixels seen (the paper's Figure 3); synced with the
    # logger's interval
    dict(type='DataSeenHook', sync_interval=50),
    # AP against iterations (Figure 1): 10 evaluations, denser at the LR drops,
    # in curve.jsonl / curve.png of the work dir
    dict(type='ConvergenceCurveHook', num_points=10),
    # RNG states in checkpoints, restored on resume (needs randomness.seed)
    dict(type='ExactResumeHook'),
    # a NaN / exploding loss: skip the step, roll back to the last checkpoint,
    # halve the LR, go on (at most 3 times)
    dict(type='DivergenceRecoveryHook'),
    # checkpoints as plain data (no numpy or pickled objects), so a safe loader
    # reads them with nothing allow-listed; on resume, logs config differences
    dict(type='PlainDataCheckpointHook'),
    # run_info.json: config name, scratch or pretrained, norms, schedule, batch --
    # what compare_runs.py / plot_curves.py read instead of executing a config
    dict(type='RunInfoHook'),
    # SIGTERM / SIGUSR1 (pre-emption, Slurm's time-limit warning, scancel): save
    # the current iteration through the checkpoint hook, then exit 75 (resume)
    dict(type='PreemptionHook'),
]
# The same hooks for a run that loads ImageNet weights on purpose
# (configs/pretrained/*: custom_hooks = _base_.pretrained_custom_hooks).
# MMEngine replaces lists rather than merging them, hence a whole list.
pretrained_custom_hooks = [
    dict(h) for h in scratch_custom_hooks if h['type'] != 'ScratchGuardHook']
# Override custom_hooks (not the two lists above) to change a config's hooks.
custom_hooks = [dict(h) for h in scratch_custom_hooks]

# A fixed seed: dataloader workers' seeds derive from it, and ExactResumeHook
# warns without one. deterministic stays off (the default) for speed on GPU, so
# a resumed run continues from the same states but not bit for bit; bit-exact
# resume also needs randomness = dict(seed=0, deterministic=True)
# (docs/reliability.md).
randomness = dict(seed=0)
