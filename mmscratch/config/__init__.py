"""Config-level building blocks: the recipe applied to any config (``scratchify``)
and the schedule rule in epochs (``epoch_schedule``)."""
from .epoch_schedule import apply_epoch_schedule, epoch_schedule, train_dataset_size
from .scratchify import (parse_norm, parse_schedule, parse_scratchify_flag,
                         scratchify)

__all__ = ['apply_epoch_schedule', 'epoch_schedule', 'parse_norm', 'parse_schedule',
           'parse_scratchify_flag', 'scratchify', 'train_dataset_size']
