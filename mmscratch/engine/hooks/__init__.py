"""MMEngine hooks of mmscratch, one per file (registered in mmdet's HOOKS)."""
from .convergence_curve_hook import ConvergenceCurveHook
from .data_seen_hook import DataSeenHook
from .scratch_guard_hook import ScratchGuardError, ScratchGuardHook
from .syncbn_check_hook import SyncBNCheckHook, SyncBNWithoutProcessGroup  # noqa: F401

__all__ = ["ConvergenceCurveHook", "DataSeenHook", "ScratchGuardError", "ScratchGuardHook"]
