from .scratch_schedule_lr import ScratchScheduleLR, ScratchScheduleParamScheduler

__all__ = ['ScratchScheduleLR', 'ScratchScheduleParamScheduler']
