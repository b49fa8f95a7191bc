from . import hooks, optimizers, runner, schedulers  # noqa: F401  (registers modules)
from .schedule import (ScratchSchedule, paper_schedule, scale_schedule,
                       schedule_in_epochs)

__all__ = ['ScratchSchedule', 'paper_schedule', 'scale_schedule', 'schedule_in_epochs']
