"""Facts read off a config dict, shared by hooks, tools and analyses.

Pure functions of (resolved) config dicts: nothing here builds, imports or
executes anything.
"""
from __future__ import annotations

import re
from typing import Any, List

#: A run or config name as analyses accept it from a JSON file: letters,
#: digits and ``_.+-``, no path separators, no ``..``.
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$')


def type_name(obj_type: Any) -> str:
    """Registry name of a config's ``type``: a string (scope prefix dropped,
    ``'mmdet.ResNet'`` -> ``'ResNet'``) or a class in pure-Python configs."""
    if isinstance(obj_type, dict):
        obj_type = obj_type.get('type', '')
    name = obj_type if isinstance(obj_type, str) else getattr(obj_type, '__name__', '')
    return name.split('.')[-1]


def has_custom_hook(cfg: Any, hook_type: str) -> bool:
    """Whether ``cfg``'s ``custom_hooks`` hold a ``hook_type`` (by registry name,
    scoped or not, or as a class in pure-Python configs)."""
    return any(type_name(hook if isinstance(hook, dict) else type(hook)) == hook_type
               for hook in cfg.get('custom_hooks') or [])


def is_safe_name(name: Any) -> bool:
    """Whether ``name`` can be used as a run/config name without being a path."""
    return isinstance(name, str) and bool(_NAME.match(name)) and '..' not in name


def is_pretrained_init(init_cfg: Any) -> bool:
    """Whether one ``init_cfg`` entry loads trained weights (MMEngine's
    ``Pretrained``, by name or scoped name)."""
    return isinstance(init_cfg, dict) and type_name(init_cfg.get('type')) == 'Pretrained'


def pretrained_init_entries(init_cfg: Any) -> List[dict]:
    """The ``Pretrained`` entries of a module's ``init_cfg`` (a dict or a list)."""
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [item for item in items if is_pretrained_init(item)]


def _pretrained_inits(node: Any, where: str) -> List[str]:
    found = []
    if isinstance(node, dict):
        for item in pretrained_init_entries(node.get('init_cfg')):
            found.append(f"{where}.init_cfg: Pretrained({item.get('checkpoint')})")
        if isinstance(node.get('pretrained'), str) and node['pretrained']:
            found.append(f"{where}.pretrained: {node['pretrained']}")
        for key, value in node.items():
            if key not in ('init_cfg', 'pretrained'):
                found += _pretrained_inits(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            found += _pretrained_inits(item, f'{where}.{i}')
    return found


def pretrained_sources(cfg: Any) -> List[str]:
    """Where a config takes trained weights from: ``Pretrained`` inits and
    ``pretrained=`` paths anywhere in the model, and a ``load_from`` that is
    not a resume. Empty for a run from random initialization."""
    found = _pretrained_inits(cfg.get('model') or {}, 'model')
    if cfg.get('load_from') and not cfg.get('resume', False):
        found.append(f"load_from: {cfg.get('load_from')}")
    return found


def is_pretrained(cfg: Any) -> bool:
    return bool(pretrained_sources(cfg))
