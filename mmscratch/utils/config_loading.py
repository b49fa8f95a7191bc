"""Loading a config: a path, ``mmscratch::REL`` or ``PKG::REL``, with overrides.

The one config loader of mmscratch (tools, benchmark, analyses, tests). A
config passed on the command line is checked input: anything that goes wrong
while MMEngine parses it becomes one :class:`ConfigError` naming the file
(and the line, for syntax errors), never a traceback from inside MMEngine.
The pre-flight checks of a config that is about to train live in
``mmscratch.apis.preflight``.
"""
from __future__ import annotations

import contextlib
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
    """The config at ``path`` (file, ``mmscratch::REL``, ``PKG::REL``), with overrides.

    Everything that goes wrong while parsing it is one :class:`ConfigError`
    naming the file (and line, for syntax errors), never a traceback from
    inside MMEngine.
    """
    resolved = resolve_config_path(path)
    try:
        cfg = Config.fromfile(resolved)
    except SyntaxError as exc:
        name = exc.filename if exc.filename and not exc.filename.startswith('<') else resolved
        where = f'{name}:{exc.lineno}' if exc.lineno else name
        raise ConfigError(f'{where}: syntax error in the config: {exc.msg}') from None
    except TypeError as exc:
        if 'cannot inherit from base' in str(exc):
            raise ConfigError(
                f'{resolved}: {_first_line(exc)} -- if this is the recipe merged by _base_ '
                'into a config with a list of heads (Cascade R-CNN, HTC), way 1 cannot '
                'express it: use tools/train.py --scratchify (mmscratch.scratchify), or '
                'read_base with a loop over the heads (docs/configs.md)') from None
        raise ConfigError(f'{resolved}: cannot be loaded: {_first_line(exc)}') from None
    except (ImportError, NameError, KeyError, AttributeError, ValueError, OSError,
            AssertionError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise FileNotFoundError(f'config file not found (a base of {resolved}?): '
                                    f'{_first_line(exc)}') from None
        raise ConfigError(f'{resolved}: cannot be loaded: {type(exc).__name__}: '
                          f'{_first_line(exc)}') from None
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    return cfg


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:400]


def merge_cfg_options(cfg: Config, cfg_options: dict) -> None:
    """``cfg.merge_from_dict``, with a clear error for an option that does not fit."""
    try:
        cfg.merge_from_dict(cfg_options)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as exc:
        raise ConfigError(f'--cfg-options {" ".join(f"{k}=..." for k in cfg_options)}: '
                          f'{_first_line(exc)}') from None


class ConfigError(ValueError):
    """A config that cannot train, found before the Runner is built.

    A ``ValueError``, so the tools print ``error: ...`` instead of a stack
    trace from deep inside MMEngine, a dataset or a model constructor.
    """


@contextlib.contextmanager
def cached_metafile_reads():
    """Parse each ``metafile.yml`` once while loading many configs.

    For every ``mmdet::`` base, MMEngine first looks the name up in all of
    MMDetection's model-index metafiles (hundreds of YAML files, ~0.3 s)
    before falling back to the plain path, so a config with three such bases
    takes about a second to load. Caching the parsed YAML changes nothing
    but the time; the config tests and ``tools/gen_model_index.py`` load every
    config in ``configs/``.
    """
    import mmengine.config.utils as config_utils
    original = config_utils.load
    cache: dict = {}

    def load(file, *args, **kwargs):
        if (isinstance(file, str) and file.endswith(('.yml', '.yaml'))
                and not args and not kwargs):
            if file not in cache:
                cache[file] = original(file)
            return cache[file]
        return original(file, *args, **kwargs)

    config_utils.load = load
    try:
        yield
    finally:
        config_utils.load = original
