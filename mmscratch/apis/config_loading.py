"""Pre-flight checks of a config about to train (``tools/train.py``), and launching.

Loading itself is :mod:`mmscratch.utils.config_loading`.
"""
from __future__ import annotations

import logging
import os
import os.path as osp

from mmengine.config import Config

from ..datasets.config_check import find_missing_dataset_files
from ..utils.config_loading import ConfigError


def default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def set_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher; on CPU-only machines start gloo DDP ourselves.

    The process-group timeout is ``env_cfg.dist_cfg.timeout`` for gloo here
    and for NCCL in MMEngine (:func:`~mmscratch.utils.dist.collective_timeout_s`).
    """
    from ..utils.dist import (collective_timeout_s, configure_cpu_ddp,
                              init_cpu_process_group, init_restarted_gpu_process_group,
                              needs_cpu_process_group)
    cfg.launcher = launcher
    timeout_s = collective_timeout_s(cfg)
    init_restarted_gpu_process_group(launcher, cfg, timeout_s)
    if needs_cpu_process_group(launcher):
        init_cpu_process_group(launcher, timeout_s)
        configure_cpu_ddp(cfg)
    if 'LOCAL_RANK' not in os.environ and launcher != 'none':
        os.environ['LOCAL_RANK'] = '0'


# ---------------------------------------------------------------------------
# Misconfigurations caught before anything is built (``tools/train.py``)
# ---------------------------------------------------------------------------
#: SGD's per-image LR of the paper and of Detectron (0.02 for 16 images).
REFERENCE_SGD_LR_PER_IMAGE = 0.02 / 16
#: Per-image LR this many times above/below the reference is reported.
LINEAR_RULE_TOLERANCE = 4.0
def _is_norm_class(cls) -> bool:
    import torch.nn as nn
    from torch.nn.modules.batchnorm import _NormBase
    return isinstance(cls, type) and issubclass(cls, (_NormBase, nn.GroupNorm, nn.LayerNorm))


def known_norm_types() -> list:
    from mmdet.registry import MODELS
    names = set()
    registry = MODELS
    while registry is not None:
        names |= {n for n, cls in registry.module_dict.items() if _is_norm_class(cls)}
        registry = registry.parent
    return sorted(names)


def find_unknown_norm_types(cfg: Config) -> list:
    """``norm_cfg`` entries of the model whose type is not a registered norm layer."""
    from mmdet.registry import MODELS
    problems = []

    def visit(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                path = f'{where}.{key}'
                if key.endswith('norm_cfg') and isinstance(value, dict) and \
                        isinstance(value.get('type'), str):
                    norm_type = value['type']
                    cls = MODELS.get(norm_type)
                    if cls is None or not _is_norm_class(cls):
                        problems.append(
                            f'{path}.type={norm_type!r} is not a norm layer type '
                            f'(known: {", ".join(known_norm_types())})')
                else:
                    visit(value, path)
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                visit(item, f'{where}.{i}')

    visit(cfg.get('model'), 'model')
    return problems


def world_size_from_env() -> int:
    for var in ('WORLD_SIZE', 'SLURM_NTASKS'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return 1


def linear_rule_warning(cfg: Config, world_size: int | None = None) -> str | None:
    """A message when SGD's LR per image is far off the linear scaling rule.

    The effective LR is the config's, scaled by ``auto_scale_lr`` when it is
    enabled (as MMEngine does), divided by the real total batch, and compared
    with the paper's 0.02 per 16 images.
    """
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
    if optimizer.get('type') != 'SGD' or not isinstance(optimizer.get('lr'), (int, float)):
        return None
    per_gpu = (cfg.get('train_dataloader') or {}).get('batch_size')
    if not isinstance(per_gpu, int) or per_gpu <= 0:
        return None
    world_size = world_size or world_size_from_env()
    batch = per_gpu * world_size
    lr = float(optimizer['lr'])
    auto = cfg.get('auto_scale_lr') or {}
    effective = lr * batch / auto['base_batch_size'] \
        if auto.get('enable') and auto.get('base_batch_size') else lr
    ratio = effective / batch / REFERENCE_SGD_LR_PER_IMAGE
    if 1 / LINEAR_RULE_TOLERANCE <= ratio * (1 + 1e-9) and \
            ratio <= LINEAR_RULE_TOLERANCE * (1 + 1e-9):
        return None
    expected = REFERENCE_SGD_LR_PER_IMAGE * batch
    scaled = ' (after auto_scale_lr)' if effective != lr else ''
    return (f'LR {effective:.4g}{scaled} for a total batch of {batch} images '
            f'({per_gpu}/GPU x {world_size}) is {ratio:.3g}x the linear scaling rule '
            f'(0.02 per 16 images -> {expected:.4g}): from scratch this risks divergence '
            f'(too high) or a wasted schedule (too low). Set optim_wrapper.optimizer.lr, '
            'or auto_scale_lr=dict(enable=True, base_batch_size=...)')


def _accepted_arguments(obj) -> tuple | None:
    """Keyword names a class's (or function's) constructor takes; None if it takes any."""
    import inspect
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _unknown_keys(given, accepted, where: str, skip=('type', '_scope_')) -> list:
    import difflib
    problems = []
    for key in given:
        if key in skip or key in accepted:
            continue
        close = difflib.get_close_matches(key, accepted, n=1)
        hint = f'; did you mean {close[0]!r}?' if close else \
            f' (it takes {", ".join(a for a in accepted if a not in ("runner", "dataloader"))})'
        problems.append(f'{where}.{key}: unknown argument{hint}')
    return problems


def _registered(registry, obj_type):
    if not isinstance(obj_type, str):
        return obj_type if isinstance(obj_type, type) else None
    try:
        return registry.get(obj_type)
    except Exception:  # a scope that is not importable: left to the build to report
        return None


def find_unknown_arguments(cfg: Config) -> list:
    """Keys of mmscratch's sections that no constructor takes, with the closest valid key.

    Checked: ``train_cfg`` against its loop (and ``train_cfg.schedule``
    against the paper's schedule rule), every ``custom_hooks`` /
    ``default_hooks`` entry and ``param_scheduler`` entry against its class.
    Classes that take ``**kwargs`` are left alone.
    """
    from mmdet.registry import HOOKS, LOOPS, PARAM_SCHEDULERS

    from ..engine.schedule import paper_schedule

    problems = []
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict) and train_cfg.get('type'):
        loop = _registered(LOOPS, train_cfg['type'])
        accepted = _accepted_arguments(loop) if loop is not None else None
        if accepted is not None:
            problems += _unknown_keys(train_cfg, accepted, 'train_cfg')
        schedule = train_cfg.get('schedule')
        if loop is not None and loop.__name__ == 'ScratchIterBasedTrainLoop':
            if isinstance(schedule, dict):
                problems += _unknown_keys(
                    schedule, [a for a in _accepted_arguments(paper_schedule)
                               if a != 'batch_size'], 'train_cfg.schedule')
    hooks = [(f'custom_hooks.{i}', h) for i, h in enumerate(cfg.get('custom_hooks') or [])]
    hooks += [(f'default_hooks.{k}', h) for k, h in (cfg.get('default_hooks') or {}).items()]
    schedulers = cfg.get('param_scheduler') or []
    entries = [(where, HOOKS, h) for where, h in hooks]
    entries += [(f'param_scheduler.{i}', PARAM_SCHEDULERS, s)
                for i, s in enumerate(schedulers if isinstance(schedulers, list) else [schedulers])]
    for where, registry, entry in entries:
        if not isinstance(entry, dict) or not entry.get('type'):
            continue
        obj = _registered(registry, entry['type'])
        accepted = _accepted_arguments(obj) if obj is not None else None
        if accepted is not None:
            problems += _unknown_keys(entry, [a for a in accepted if a != 'optimizer'], where)
    return problems


def check_train_config(cfg: Config, world_size: int | None = None) -> None:
    """Fail with one clear :class:`ConfigError` listing every misconfiguration
    found; warn about a batch/LR combination far off the linear scaling rule."""
    problems = (find_unknown_arguments(cfg) + find_missing_dataset_files(cfg)
                + find_unknown_norm_types(cfg))
    if problems:
        raise ConfigError('the config cannot train: ' + '; '.join(problems))
    warning = linear_rule_warning(cfg, world_size)
    if warning:
        from mmengine.logging import print_log
        print_log(warning, logger='current', level=logging.WARNING)
