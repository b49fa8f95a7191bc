"""The paper's recipe, in one place: the schedule rule (:mod:`.schedule`: lengths,
LR drops, warm-up, batch scaling, the schedule grammar), its epoch form
(:mod:`.epoch_schedule`), the recipe's values (:mod:`.recipe_file`, read from
``configs/_base_/recipes/``) and the recipe applied to any config
(:mod:`.scratchify`). Nothing here builds a model or runs MMEngine's runner;
``mmscratch.engine`` holds the MMEngine adapters (loop, scheduler, hooks)."""
from .epoch_schedule import apply_epoch_schedule, epoch_schedule, train_dataset_size
from .schedule import (ScratchSchedule, paper_drops, paper_schedule, parse_schedule,
                       rescale_schedule_length, resolve_schedule, scale_schedule,
                       schedule_in_epochs)
from .scratchify import parse_norm, parse_scratchify_flag, scratchify

__all__ = ['ScratchSchedule', 'apply_epoch_schedule', 'epoch_schedule', 'paper_drops',
           'paper_schedule', 'parse_norm', 'parse_schedule', 'parse_scratchify_flag',
           'rescale_schedule_length', 'resolve_schedule', 'scale_schedule',
           'schedule_in_epochs', 'scratchify', 'train_dataset_size']
