"""The from-scratch recipe's values, read from the one text they are written in.

``configs/_base_/recipes/gn.py`` (and ``syncbn.py``, derived from it) spell
the recipe out as one namespaced dict, ``scratch_recipe``, for way 1 of
"Mixing the recipe into your config" (docs/configs.md). ``scratchify`` (way
3) reads its values from there instead of repeating them, so the two ways
cannot drift apart; the pure-Python twin (``mmscratch/configs/recipes/``,
way 2) and the paper configs' bases are held equal to it by tests.
"""
from __future__ import annotations

import copy
import functools

from ..utils.config_loading import configs_root

#: The recipe files, by norm: ``configs/_base_/recipes/<name>.py``.
RECIPE_NORMS = ('gn', 'syncbn')


def _without_delete_keys(node):
    """The recipe as plain data: MMEngine's ``_delete_`` markers (merge
    instructions for way 1) dropped, ConfigDicts made dicts."""
    if isinstance(node, dict):
        return {k: _without_delete_keys(v) for k, v in node.items() if k != '_delete_'}
    if isinstance(node, (list, tuple)):
        return [_without_delete_keys(v) for v in node]
    return node


@functools.lru_cache(maxsize=None)
def _read_recipe(norm: str) -> dict:
    from mmengine.config import Config
    path = configs_root() / '_base_' / 'recipes' / f'{norm}.py'
    return _without_delete_keys(Config.fromfile(str(path))['scratch_recipe'].to_dict())


def scratch_recipe(norm: str = 'gn') -> dict:
    """A fresh copy of ``scratch_recipe`` of ``configs/_base_/recipes/<norm>.py``."""
    if norm not in RECIPE_NORMS:
        raise ValueError(f'no recipe file for {norm!r}; there are {RECIPE_NORMS}')
    return copy.deepcopy(_read_recipe(norm))
