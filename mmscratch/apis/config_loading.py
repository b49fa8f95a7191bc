"""Config loading shared by ``tools/train.py`` and ``tools/test.py``."""
from __future__ import annotations

import os
import os.path as osp
from pathlib import Path

from mmengine.config import Config, DictAction  # noqa: F401  (re-exported)

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
    """Accept a path or ``mmscratch::REL`` and fail clearly if it does not exist."""
    if path.startswith(PACKAGE_PREFIX):
        resolved = configs_root() / path[len(PACKAGE_PREFIX):]
    else:
        resolved = Path(path)
    if not resolved.is_file():
        hint = ''
        if not path.startswith(PACKAGE_PREFIX) and not osp.isabs(path):
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
