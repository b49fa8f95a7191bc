"""MMEngine hooks of mmscratch, one per file (registered in mmdet's HOOKS)."""
from .backbone_export_hook import BackboneExportHook
from .bad_image_hook import BadImageHook
from .channels_last_hook import ChannelsLastHook
from .checkpoint_match_hook import CheckpointMatchHook, CheckpointMismatch
from .convergence_curve_hook import ConvergenceCurveHook
from .data_seen_hook import DataSeenHook
from .divergence_recovery_hook import DivergenceError, DivergenceRecoveryHook
from .exact_resume_hook import ExactResumeHook
from .fast_cpu_ops_hook import FastCPUOpsHook
from .plain_data_checkpoint_hook import PlainDataCheckpointHook
from .preemption_hook import Preempted, PreemptionHook
from .rank_heartbeat_hook import RankHeartbeatHook
from .run_info_hook import RunInfoHook
from .safe_checkpoint_hook import CheckpointSaveError, SafeCheckpointHook
from .scratch_guard_hook import ScratchGuardError, ScratchGuardHook
from .syncbn_check_hook import SyncBNCheckHook, SyncBNWithoutProcessGroup

__all__ = [
    'BackboneExportHook', 'BadImageHook', 'ChannelsLastHook', 'CheckpointMatchHook', 'CheckpointMismatch', 'ConvergenceCurveHook', 'DataSeenHook',
    'DivergenceError', 'DivergenceRecoveryHook', 'ExactResumeHook', 'PlainDataCheckpointHook',
    'Preempted', 'PreemptionHook', 'RankHeartbeatHook', 'RunInfoHook', 'CheckpointSaveError',
    'SafeCheckpointHook', 'FastCPUOpsHook',
    'ScratchGuardError', 'ScratchGuardHook', 'SyncBNCheckHook', 'SyncBNWithoutProcessGroup'
]
