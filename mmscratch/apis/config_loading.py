"""Config loading shared by ``tools/train.py`` and ``tools/test.py``."""
from __future__ import annotations

import logging
import os
import os.path as osp
from pathlib import Path

from mmengine.config import Config

PACKAGE_PREFIX = 'mmscratch::'


def configs_root() -> Path:
    """Where mmscratch's configs live: the repo (editable install) or the package."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / '.mim' / 'configs', here.parent / 'configs'):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f'mmscratch configs not found under {here}; reinstall mmscratch')


def resolve_config_path(path: str) -> str:
    """A config file path from a path, ``mmscratch::REL`` or ``PKG::REL``.

    ``mmscratch::REL`` is this package's ``configs/``; any other OpenMMLab
    ``PKG::REL`` (``mmdet::mask_rcnn/...``) is that package's ``.mim/configs``
    -- ``Config.fromfile`` understands the prefix only inside ``_base_``.
    Fails clearly when the file does not exist.
    """
    if '::' in path:
        package, rel = path.split('::', 1)
        if package == 'mmscratch':
            resolved = configs_root() / rel
        else:
            from mmengine.utils import get_installed_path
            try:
                resolved = Path(get_installed_path(package)) / '.mim' / 'configs' / rel
            except Exception as exc:  # not installed
                raise FileNotFoundError(f'config file not found: {path} ({exc})') from exc
    else:
        resolved = Path(path)
    if not resolved.is_file():
        hint = ''
        if '::' not in path and not osp.isabs(path):
            packaged = configs_root() / path.replace('configs/', '', 1)
            if packaged.is_file():
                hint = f' (did you mean {PACKAGE_PREFIX}{path.replace("configs/", "", 1)}?)'
        raise FileNotFoundError(f'config file not found: {path}{hint}')
    return str(resolved)


def load_config(path: str, cfg_options: dict | None = None) -> Config:
    cfg = Config.fromfile(resolve_config_path(path))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def set_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher; on CPU-only machines start gloo DDP ourselves."""
    from ..utils.dist import (configure_cpu_ddp, init_cpu_process_group,
                              needs_cpu_process_group)
    cfg.launcher = launcher
    if needs_cpu_process_group(launcher):
        init_cpu_process_group(launcher)
        configure_cpu_ddp(cfg)
    if 'LOCAL_RANK' not in os.environ and launcher != 'none':
        os.environ['LOCAL_RANK'] = '0'


# ---------------------------------------------------------------------------
# Misconfigurations caught before anything is built (``tools/train.py``)
# ---------------------------------------------------------------------------
class ConfigError(ValueError):
    """A config that cannot train, found before the Runner is built.

    A ``ValueError``, so ``tools/train.py`` prints ``error: ...`` instead of a
    stack trace from deep inside a dataset or model constructor.
    """


#: SGD's per-image LR of the paper and of Detectron (0.02 for 16 images).
REFERENCE_SGD_LR_PER_IMAGE = 0.02 / 16
#: Per-image LR this many times above/below the reference is reported.
LINEAR_RULE_TOLERANCE = 4.0
_DATALOADERS = ('train_dataloader', 'val_dataloader')


def _iter_datasets(dataset_cfg, where: str):
    """(dataset config, its config path) through wrappers (Concat, Repeat, ...)."""
    if isinstance(dataset_cfg, dict):
        yield dataset_cfg, where
        if isinstance(dataset_cfg.get('dataset'), dict):
            yield from _iter_datasets(dataset_cfg['dataset'], where + '.dataset')
        for i, child in enumerate(dataset_cfg.get('datasets') or []):
            yield from _iter_datasets(child, f'{where}.datasets.{i}')


def _is_remote(path: str) -> bool:
    return '://' in path


def find_missing_dataset_files(cfg: Config) -> list:
    """Problems with the annotation files of the train/val datasets and evaluator."""
    problems = []
    for key in _DATALOADERS:
        loader = cfg.get(key)
        if not isinstance(loader, dict):
            continue
        for ds, where in _iter_datasets(loader.get('dataset'), key + '.dataset'):
            ann_file = ds.get('ann_file')
            if not isinstance(ann_file, str) or not ann_file or _is_remote(ann_file):
                continue
            data_root = ds.get('data_root') or ''
            if isinstance(data_root, str) and data_root and not _is_remote(data_root) \
                    and not osp.isdir(data_root):
                problems.append(f'{where}.data_root: dataset root not found: {data_root} '
                                f'(absolute: {osp.abspath(data_root)})')
                continue
            path = ann_file if osp.isabs(ann_file) or not data_root else \
                osp.join(data_root, ann_file)
            if not osp.isfile(path):
                problems.append(f'{where}: annotation file not found: {path} (data_root='
                                f'{data_root!r}, ann_file={ann_file!r})')
    evaluators = cfg.get('val_evaluator')
    for i, evaluator in enumerate(evaluators if isinstance(evaluators, list) else [evaluators]):
        ann_file = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
        if isinstance(ann_file, str) and ann_file and not _is_remote(ann_file) \
                and not osp.isfile(ann_file):
            where = 'val_evaluator' + (f'.{i}' if isinstance(evaluators, list) else '')
            problems.append(f'{where}.ann_file: annotation file not found: {ann_file}')
    return problems


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


def _world_size_from_env() -> int:
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
    world_size = world_size or _world_size_from_env()
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


def check_train_config(cfg: Config, world_size: int | None = None) -> None:
    """Fail with one clear :class:`ConfigError` listing every misconfiguration
    found; warn about a batch/LR combination far off the linear scaling rule."""
    problems = find_missing_dataset_files(cfg) + find_unknown_norm_types(cfg)
    if problems:
        raise ConfigError('the config cannot train:\n  - ' + '\n  - '.join(problems))
    warning = linear_rule_warning(cfg, world_size)
    if warning:
        from mmengine.logging import print_log
        print_log(warning, logger='current', level=logging.WARNING)
