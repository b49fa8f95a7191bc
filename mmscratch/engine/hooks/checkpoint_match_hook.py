"""``CheckpointMatchHook``: weights that do not fit the model are an error, not a result.

When it runs: ``after_load_checkpoint``, i.e. whenever the runner loads a
checkpoint into the model -- ``load_from`` (fine-tuning, ``tools/test.py``)
and ``--resume`` -- before MMEngine copies the weights (``Pretrained``
backbone inits are not affected: they are partial on purpose).

What it checks: the checkpoint's ``state_dict`` keys against the model's
(after MMEngine's own ``module.`` prefix stripping), and the shapes of the
keys both have. MMEngine loads non-strictly and only logs "missing keys" /
"unexpected key" warnings, so a GN 4conv1fc checkpoint evaluated with the
BN 2fc config it was scratchified from prints the AP of a half-random model
with exit code 0. This hook raises :class:`CheckpointMismatch` instead,
naming the first mismatched keys and the likely cause (the recipe the
checkpoint was trained with, when it recorded one).

What it changes: nothing, unless ``allow_partial=True`` (``tools/train.py`` /
``tools/test.py --allow-partial-load``): then it only warns, with the counts.
"""
from __future__ import annotations

import re
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmdet.registry import HOOKS

from ...recipe.scratchify import APPLIED_KEY
from .run_info_hook import RECIPE_KEY

_PREFIX = re.compile(r'^module\.')
SHOWN = 3


class CheckpointMismatch(ValueError):
    """A checkpoint's weights do not fit the model they are loaded into."""


def weight_mismatches(model_state: dict, checkpoint_state: dict) -> dict:
    """Missing, unexpected and other-shape keys of ``checkpoint_state`` for a model."""
    ckpt = {_PREFIX.sub('', k): v for k, v in checkpoint_state.items()}
    missing = [k for k in model_state if k not in ckpt]
    unexpected = [k for k in ckpt if k not in model_state]
    shapes = [f'{k} ({tuple(ckpt[k].shape)} in the checkpoint, {tuple(v.shape)} in the model)'
              for k, v in model_state.items()
              if k in ckpt and hasattr(ckpt[k], 'shape') and tuple(ckpt[k].shape) != tuple(v.shape)]
    return dict(missing=missing, unexpected=unexpected, shape=shapes)


def describe_mismatch(found: dict) -> str:
    parts = []
    for kind, label in (('missing', 'missing from the checkpoint'),
                        ('unexpected', 'not in the model'), ('shape', 'of another shape')):
        keys: List[str] = found[kind]
        if keys:
            more = f', ... ({len(keys) - SHOWN} more)' if len(keys) > SHOWN else ''
            parts.append(f'{len(keys)} key(s) {label}: {", ".join(keys[:SHOWN])}{more}')
    return '; '.join(parts)


def recorded_scratchify(checkpoint) -> Optional[dict]:
    """The ``scratchify`` arguments a checkpoint's model was built with, if any."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    recipe = meta.get(RECIPE_KEY) if isinstance(meta, dict) else None
    applied = recipe.get('scratchified') if isinstance(recipe, dict) else None
    return applied if isinstance(applied, dict) and isinstance(applied.get('spec'), str) \
        else None


_NORM_NAME = re.compile(r'(?:^|\.)(gn|bn)\d*\.')


def _norm_names(keys) -> set:
    return {m.group(1) for m in map(_NORM_NAME.search, keys) if m}


def likely_cause(checkpoint: dict, cfg, found: dict) -> str:
    recorded = recorded_scratchify(checkpoint)
    if recorded and not (cfg is not None and cfg.get(APPLIED_KEY)):
        spec = recorded['spec']
        return (f'the checkpoint was trained with --scratchify {spec} and this config is '
                f'the original one: pass --scratchify {spec} (tools/test.py applies it by '
                'itself), or the config dumped in the run\'s work dir')
    if 'gn' in _norm_names(found['unexpected']) and 'bn' in _norm_names(found['missing']):
        return ('the checkpoint has GroupNorm layers where the model has BatchNorm: it was '
                'trained with the from-scratch recipe; pass --scratchify NORM:SCHEDULE as in '
                'training, or the config dumped in its work dir')
    return ('the checkpoint belongs to another model or config: use the config it was '
            'trained with (the copy MMEngine dumped in its work dir)')


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Refuse (or, with ``allow_partial``, report) a checkpoint that does not fit the model.

    Args:
        allow_partial: only warn; for a partial load that is meant.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_partial: bool = False):
        self.allow_partial = allow_partial

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise CheckpointMismatch('the checkpoint holds no state_dict')
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if isinstance(model, BaseTTAModel):  # tools/test.py --tta: the weights are the detector's
            model = model.module
        found = weight_mismatches(model.state_dict(), state)
        if not any(found.values()):
            return
        source: Optional[str] = getattr(runner, '_load_from', None)
        what = describe_mismatch(found)
        if self.allow_partial:
            runner.logger.warning(f'CheckpointMatchHook: partial load (allowed): {what}')
            return
        raise CheckpointMismatch(
            f'{source or "the checkpoint"} does not fit the model: {what}. Likely cause: '
            f'{likely_cause(checkpoint, getattr(runner, "cfg", None), found)}. '
            '(--allow-partial-load loads the matching weights anyway)')
