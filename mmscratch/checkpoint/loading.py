"""mmscratch's checkpoint loader, and MMEngine's loads routed through it.

:func:`load_checkpoint_file` is the one way mmscratch reads a checkpoint:

1. ``torch.load(weights_only=True)``, with whatever safe list the process
   has (mmscratch adds nothing to it): tensors, numbers, strings and
   containers. Checkpoints mmscratch writes need nothing more
   (:mod:`.plain_data`).
2. A file refused there only because it holds numpy values or
   ``HistoryBuffer``s -- a checkpoint of stock MMEngine or of an earlier
   mmscratch -- is read as data by :mod:`.legacy_numpy`, inside
   mmscratch's own tools (:func:`older_checkpoints_readable`); elsewhere it
   is refused with a message saying so.
3. Anything else is refused with one :class:`CheckpointRefused` naming the
   file and the globals it wanted.

Then the loaded dict is prepared: plain-data entries become numpy values and
``HistoryBuffer``s again, and a config text stored as ``meta['config']``
(mmcv-era checkpoints, or a forged file) is moved out of the way, because
MMEngine's ``Runner.resume`` *executes* that key with ``Config.fromstring``.

``import mmscratch`` makes MMEngine's checkpoint loads go through here
(:func:`install_mmengine_loaders`): its local-file loader (``load_checkpoint``,
``Runner.load_checkpoint``/``resume``, ``Pretrained`` init) is replaced, and
every other registered scheme (http, s3, ...) is wrapped with the same
preparation, using MMEngine's own ``CheckpointLoader.register_scheme``.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os.path as osp
import pickle
import pickletools
import zipfile
from typing import Any, Iterator

import torch

from .legacy_numpy import LEGACY_GLOBALS, load_legacy_checkpoint
from .plain_data import CheckpointDataError, from_plain_data

_older_readable = contextvars.ContextVar('mmscratch_older_checkpoints_readable',
                                         default=False)


class CheckpointRefused(ValueError):
    """A checkpoint that is not read: not data, unreadable, or malformed."""


@contextlib.contextmanager
def older_checkpoints_readable() -> Iterator[None]:
    """Within this block, checkpoints of the older numpy format are read as data.

    mmscratch's tools run inside it; other code in the same process (and
    ``torch.load`` itself) is not affected.
    """
    token = _older_readable.set(True)
    try:
        yield
    finally:
        _older_readable.reset(token)


def _globals_in_pickle(filename: str) -> set:
    """``module.name`` of every GLOBAL in a zip checkpoint's pickle (parsed, not run)."""
    with zipfile.ZipFile(filename) as archive:
        names = [n for n in archive.namelist() if n.endswith('/data.pkl') or n == 'data.pkl']
        if not names:
            return set()
        data = archive.read(names[0])
    found = set()
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name == 'GLOBAL':
            found.add(arg.replace(' ', '.', 1))
    return found


def _unsafe_globals(filename: str) -> list:
    """The globals of a checkpoint that torch's weights_only loader does not allow."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # torch's scanner knows fewer opcodes than pickle has
        pass
    try:
        found = _globals_in_pickle(filename)
    except Exception:  # not a zip checkpoint, or a pickle that does not parse
        return []
    from torch import _weights_only_unpickler as wo
    allowed = set(wo._get_allowed_globals()) | set(wo._get_user_allowed_globals())
    return sorted(g for g in found if g not in allowed)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1].strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _load_refused_file(filename: str, map_location, exc: BaseException,
                       allow_older: bool) -> Any:
    wanted = _unsafe_globals(filename)
    foreign = [g for g in wanted if g not in LEGACY_GLOBALS]
    if foreign:
        raise CheckpointRefused(
            f'{filename}: refusing to load: the file asks for '
            f'{", ".join(foreign[:5])}{" ..." if len(foreign) > 5 else ""}, which a '
            'checkpoint of tensors, numbers and strings never needs (it could run code '
            'or corrupt memory when loaded)') from None
    if not wanted:
        raise CheckpointRefused(
            f'{filename}: refusing to load: {_first_line(exc)}') from None
    if not allow_older:
        raise CheckpointRefused(
            f'{filename}: a checkpoint of the older MMEngine format (numpy values '
            'inside); mmscratch reads it as data inside its own tools (tools/train.py, '
            'tools/test.py), or convert it once with tools/convert_checkpoint.py') from None
    try:
        return load_legacy_checkpoint(filename, map_location)
    except (pickle.UnpicklingError, CheckpointDataError) as legacy_exc:
        raise CheckpointRefused(
            f'{filename}: refusing to load: {_first_line(legacy_exc)}') from None


def load_checkpoint_file(filename: str, map_location=None, allow_older: bool = None) -> Any:
    """Load a local checkpoint as data; see the module docstring.

    Args:
        filename: the file.
        map_location: as for ``torch.load``.
        allow_older: read the older numpy format (default: inside
            :func:`older_checkpoints_readable` only).
    """
    if allow_older is None:
        allow_older = _older_readable.get()
    try:
        checkpoint = torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        checkpoint = _load_refused_file(filename, map_location, exc, allow_older)
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CheckpointRefused(
            f'{filename}: not a readable checkpoint (truncated, or not a file saved with '
            f'torch.save): {_first_line(exc)}') from None
    except RecursionError:
        raise CheckpointRefused(f'{filename}: refusing to load: nested too deeply') from None
    return prepare_loaded_checkpoint(checkpoint, filename)


def prepare_loaded_checkpoint(checkpoint: Any, source: str) -> Any:
    """Rebuild plain-data entries; move an executable ``meta['config']`` aside."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('meta'), dict):
        meta = checkpoint['meta']
        if 'config' in meta:
            text = meta.pop('config')
            if isinstance(text, str) and 'cfg' not in meta:
                meta['cfg'] = text  # kept as text for comparison, never parsed
            from mmengine.logging import print_log
            print_log(f'{source}: ignored the config text stored in the checkpoint '
                      "(meta['config']): MMEngine's resume would execute it; the config "
                      'you run with is the config', logger='current', level=logging.WARNING)
    try:
        return from_plain_data(checkpoint, osp.basename(str(source)))
    except CheckpointDataError as exc:
        raise CheckpointRefused(f'{source}: refusing to load: {exc}') from None
    except RecursionError:
        raise CheckpointRefused(f'{source}: refusing to load: nested too deeply') from None


def convert_checkpoint(src: str, dst: str) -> dict:
    """Rewrite any readable checkpoint (older numpy format included) as plain data.

    ``dst`` is created, never replaced. Returns what was written.
    """
    import io

    from ..utils.atomic_io import write_new_file
    from .plain_data import to_plain_data

    if osp.lexists(dst):
        raise FileExistsError(f'{dst} exists; not overwriting it')
    if not osp.isfile(src):
        raise FileNotFoundError(f'checkpoint file not found: {src}')
    checkpoint = to_plain_data(load_checkpoint_file(src, 'cpu', allow_older=True))
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_new_file(dst, buffer.getvalue())
    return checkpoint


# --------------------------------------------------------- MMEngine's loads
def _load_from_local(filename, map_location=None):
    """MMEngine's ``load_from_local``, reading through :func:`load_checkpoint_file`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location)


def _prepared(loader):
    @functools.wraps(loader)
    def load(filename, map_location=None, *args, **kwargs):
        return prepare_loaded_checkpoint(loader(filename, map_location, *args, **kwargs),
                                         filename)
    load.mmscratch_prepared = True
    return load


_load_from_local.mmscratch_prepared = True


def install_mmengine_loaders() -> None:
    """Route MMEngine's ``CheckpointLoader`` schemes through this module (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if getattr(loader, 'mmscratch_prepared', False):
            continue
        replacement = _load_from_local if prefix == '' else _prepared(loader)
        CheckpointLoader.register_scheme(prefix, replacement, force=True)
