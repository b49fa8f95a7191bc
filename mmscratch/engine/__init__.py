"""MMEngine adapters of the recipe: the loop that resolves the schedule rule
at the real batch, its LR scheduler, the hooks (one per file) and the bf16
optimizer wrapper. The rule itself lives in :mod:`mmscratch.recipe`."""
from . import hooks, optimizers, runner, schedulers  # noqa: F401  (registers modules)
