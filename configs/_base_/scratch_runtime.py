# Runtime shared by every mmscratch config: MMDetection's default runtime made
# iteration-based (the paper counts iterations), mmscratch imported, and the
# SyncBN guard that refuses single-process SyncBN runs.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmscratch'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # Every 10k iterations, keeping the last 3: a preempted 540k-iteration run
    # loses at most ~1/54 of its work and the disk holds ~1 GB of checkpoints.
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000,
                    max_keep_ckpts=3))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

# A no-op unless the model has SyncBN layers: then it stops a run without a
# process group of >= 2 processes, where MMEngine would silently fall back to
# per-GPU BN over 2 images (mmscratch/engine/hooks/syncbn_check_hook.py).
custom_hooks = [dict(type='SyncBNCheckHook')]
