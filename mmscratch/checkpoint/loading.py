"""mmscratch's checkpoint loader, and MMEngine's loads routed through it.

:func:`load_checkpoint_file` is the one way mmscratch reads a checkpoint:

1. ``torch.load(weights_only=True)``, with whatever safe list the process
   has (mmscratch adds nothing to it): tensors, numbers, strings and
   containers. Checkpoints mmscratch writes need nothing more
   (:mod:`.plain_data`).
2. A file refused there only because it holds numpy values or
   ``HistoryBuffer``s -- a checkpoint of stock MMEngine or of an earlier
   mmscratch -- is read as data by :mod:`.legacy_numpy`, inside mmscratch's
   own tools (:func:`older_checkpoints_readable`); elsewhere it is refused
   with a message saying so. The file is read into memory once, and both the
   scan of what it asks for and the load work on those bytes (a file swapped
   in between cannot reach another loader), and TorchScript archives are
   refused.
3. Anything else -- a refused global, a malformed or truncated file -- is one
   :class:`CheckpointRefused` naming the file.

Then the loaded dict is prepared: plain-data entries become numpy values and
``HistoryBuffer``s again, and every config *text* the checkpoint carries
(``meta['config']`` of mmcv-era checkpoints, ``meta['cfg']`` and the message
hub's ``runtime_info['cfg']`` that MMEngine writes) is moved to
``meta['untrusted_config_text']``: MMEngine's ``Runner.resume`` and its
inferencers *execute* those keys with ``Config.fromstring``; nothing reads the
new one but mmscratch's comparison of config texts.

``import mmscratch`` makes MMEngine's checkpoint loads go through here
(:func:`install_mmengine_loaders`, with MMEngine's own
``CheckpointLoader.register_scheme``): local files, ``http(s)://``,
``torchvision://``, ``open-mmlab://``, ``mmcls://`` and ``s3://`` are loaded by
this module (MMEngine's own loaders for the URL schemes go through
``torch.hub``, which unpickles without ``weights_only``); any other scheme
registered at that time is wrapped with the same preparation.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import logging
import os
import os.path as osp
import pickle
import pickletools
import zipfile
from typing import Any, Iterator, Union

import torch

from .bookkeeping import check_bookkeeping
from .legacy_numpy import LEGACY_GLOBALS, load_legacy_checkpoint
from .plain_data import CheckpointDataError, from_plain_data

_older_readable = contextvars.ContextVar('mmscratch_older_checkpoints_readable',
                                         default=False)
#: Where a checkpoint's config text is kept after loading: a key nothing executes.
UNTRUSTED_CONFIG_TEXT = 'untrusted_config_text'


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


def _globals_in_pickle(archive: zipfile.ZipFile) -> set:
    """``module.name`` of every GLOBAL in a zip checkpoint's pickle (parsed, not run)."""
    names = [n for n in archive.namelist() if n.endswith('/data.pkl') or n == 'data.pkl']
    if not names:
        return set()
    found = set()
    for opcode, arg, _ in pickletools.genops(archive.read(names[0])):
        if opcode.name == 'GLOBAL':
            found.add(arg.replace(' ', '.', 1))
    return found


def _unsafe_globals(data: bytes) -> list:
    """The globals of a checkpoint that torch's weights_only loader does not allow."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data)))
    except Exception:  # torch's scanner knows fewer opcodes than pickle has
        pass
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            found = _globals_in_pickle(archive)
    except Exception:  # not a zip checkpoint, or a pickle that does not parse
        return []
    from torch import _weights_only_unpickler as wo
    allowed = set(wo._get_allowed_globals()) | set(wo._get_user_allowed_globals())
    return sorted(g for g in found if g not in allowed)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1].strip()
    line = (text.splitlines() or [type(exc).__name__])[0][:300]
    return line if isinstance(exc, (pickle.UnpicklingError, CheckpointDataError)) \
        else f'{type(exc).__name__}: {line}'


def _is_torchscript(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(n == 'constants.pkl' or n.endswith('/constants.pkl')
                       for n in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _load_refused(source: str, data: bytes, map_location, exc: BaseException,
                  allow_older: bool) -> Any:
    """Second pass over a file torch's loader refused, from its bytes in memory."""
    wanted = _unsafe_globals(data)
    foreign = [g for g in wanted if g not in LEGACY_GLOBALS]
    if foreign:
        raise CheckpointRefused(
            f'{source}: refusing to load: the file asks for '
            f'{", ".join(foreign[:5])}{" ..." if len(foreign) > 5 else ""}, which a '
            'checkpoint of tensors, numbers and strings never needs (it could run code '
            'or corrupt memory when loaded)')
    if not wanted:
        raise CheckpointRefused(
            f'{source}: not a readable checkpoint (truncated, or not a file saved with '
            f'torch.save): {_first_line(exc)}')
    if not allow_older:
        raise CheckpointRefused(
            f'{source}: a checkpoint of the older MMEngine format (numpy values '
            'inside); mmscratch reads it as data inside its own tools (tools/train.py, '
            'tools/test.py), or convert it once with tools/convert_checkpoint.py')
    if _is_torchscript(data):
        raise CheckpointRefused(f'{source}: refusing to load: a TorchScript archive')
    try:
        return load_legacy_checkpoint(io.BytesIO(data), map_location)
    except Exception as legacy_exc:  # any failure of a hostile file is a refusal
        raise CheckpointRefused(f'{source}: refusing to load: {_first_line(legacy_exc)}')


def load_checkpoint_file(source: Union[str, bytes], map_location=None,
                         allow_older: bool = None, mmap: bool = False,
                         name: str = None) -> Any:
    """Load a checkpoint as data; see the module docstring.

    Args:
        source: a local file, or a checkpoint's bytes (``name`` then says
            where they came from, for messages).
        map_location: as for ``torch.load``.
        allow_older: read the older numpy format (default: inside
            :func:`older_checkpoints_readable` only).
        mmap: map the tensors' storage instead of reading it (cheap when only
            the metadata is wanted; zip files on disk only).
    """
    if allow_older is None:
        allow_older = _older_readable.get()
    in_memory = isinstance(source, (bytes, bytearray))
    label = name or ('<bytes>' if in_memory else source)
    if not in_memory and not osp.isfile(source):
        raise FileNotFoundError(f'checkpoint file not found: {source}')
    try:
        try:
            if in_memory:
                checkpoint = torch.load(io.BytesIO(source), map_location=map_location,
                                        weights_only=True)
            else:
                checkpoint = torch.load(source, map_location=map_location, weights_only=True,
                                        mmap=mmap and zipfile.is_zipfile(source))
        except pickle.UnpicklingError as exc:
            data = bytes(source) if in_memory else _read_bytes(source)
            checkpoint = _load_refused(label, data, map_location, exc, allow_older)
    except CheckpointRefused:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # truncated, not a torch file, malformed pickle, ...
        raise CheckpointRefused(
            f'{label}: not a readable checkpoint (truncated, or not a file saved with '
            f'torch.save): {_first_line(exc)}') from None
    return prepare_loaded_checkpoint(checkpoint, label)


def _read_bytes(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def _move_config_text(checkpoint: dict, source: str) -> None:
    """Config texts to ``meta['untrusted_config_text']``, where nothing executes them."""
    meta = checkpoint.get('meta')
    hub = checkpoint.get('message_hub')
    info = hub.get('runtime_info') if isinstance(hub, dict) else None
    texts = []
    if isinstance(meta, dict):
        texts += [meta.pop(key) for key in ('config', 'cfg') if key in meta]
    if isinstance(info, dict) and 'cfg' in info:
        texts.append(info.pop('cfg'))
    if not texts:
        return
    if not isinstance(meta, dict):
        meta = checkpoint['meta'] = {}
    text = next((t for t in texts if isinstance(t, str)), None)
    if text is not None:
        meta[UNTRUSTED_CONFIG_TEXT] = text


def prepare_loaded_checkpoint(checkpoint: Any, source: str) -> Any:
    """Rebuild plain-data entries; move every config text out of executable keys;
    drop file bookkeeping that hooks would turn into paths outside the run
    (:mod:`.bookkeeping`)."""
    try:
        if isinstance(checkpoint, dict):
            if isinstance(checkpoint.get('meta'), dict) and 'config' in checkpoint['meta']:
                from mmengine.logging import print_log
                print_log(f'{source}: ignored the config text stored in the checkpoint '
                          "(meta['config']): MMEngine's resume would execute it; the config "
                          'you run with is the config', logger='current',
                          level=logging.WARNING)
            _move_config_text(checkpoint, source)
        checkpoint = from_plain_data(checkpoint, osp.basename(str(source)))
        check_bookkeeping(checkpoint, source)
        return checkpoint
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # malformed entries of a hostile file
        raise CheckpointRefused(f'{source}: refusing to load: {_first_line(exc)}') from None


def convert_checkpoint(src: str, dst: str) -> dict:
    """Rewrite any readable checkpoint (older numpy format included) as plain data.

    ``dst`` is created, never replaced. Returns what was written.
    """
    from ..utils.atomic_io import write_new_file
    from .plain_data import to_plain_data

    if osp.lexists(dst):
        raise FileExistsError(f'{dst} exists; not overwriting it')
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


def download(url: str, model_dir: str = None, progress: bool = False) -> str:
    """``url`` into torch hub's checkpoint cache (as ``torch.hub`` names it); the path.

    A file already in the cache is used as it is -- it is read as data like
    any other checkpoint, so a poisoned shared cache cannot run code either.
    """
    from urllib.parse import urlparse

    from torch.hub import download_url_to_file, get_dir

    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    name = osp.basename(urlparse(url).path)
    if not name or name in ('.', '..'):
        raise CheckpointRefused(f'{url}: no file name in the URL')
    path = osp.join(model_dir, name)
    if not osp.isfile(path):
        download_url_to_file(url, path, progress=progress)
    return path


def _load_from_http(filename, map_location=None, model_dir=None, progress=False):
    """MMEngine's ``load_from_http`` (rank 0 downloads first), read as data."""
    from mmengine.dist import get_dist_info

    rank, world_size = get_dist_info()
    if rank == 0:
        path = download(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = download(filename, model_dir, progress)
    return load_checkpoint_file(path, map_location, name=filename)


def _load_from_torchvision(filename, map_location=None):
    from mmengine.runner.checkpoint import get_torchvision_models
    name = filename.split('://', 1)[1]
    return _load_from_http(get_torchvision_models()[name], map_location)


def _load_from_openmmlab(filename, map_location=None):
    from mmengine.runner.checkpoint import (_get_mmengine_home, get_deprecated_model_names,
                                            get_external_models)
    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    url = get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return _load_from_http(url, map_location)
    return _load_from_local(osp.join(_get_mmengine_home(), url), map_location)


def _load_from_mmcls(filename, map_location=None):
    from mmengine.runner.checkpoint import _process_mmcls_checkpoint, get_mmcls_models
    checkpoint = _load_from_http(get_mmcls_models()[filename[8:]], map_location)
    return _process_mmcls_checkpoint(checkpoint)


def _load_from_ceph(filename, map_location=None, backend='petrel'):
    from mmengine.fileio import get_file_backend
    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    return load_checkpoint_file(data, map_location, name=filename)


#: The schemes this module loads itself (MMEngine's prefixes).
OWN_LOADERS = {
    '': _load_from_local,
    'http://': _load_from_http, 'https://': _load_from_http,
    'torchvision://': _load_from_torchvision, 'modelzoo://': _load_from_torchvision,
    'open-mmlab://': _load_from_openmmlab, 'openmmlab://': _load_from_openmmlab,
    'mmcls://': _load_from_mmcls,
    r'(\S+\:)?s3://': _load_from_ceph, r'(\S+\:)?petrel://': _load_from_ceph,
}
for _loader in set(OWN_LOADERS.values()):
    _loader.mmscratch_prepared = True


def _prepared(loader):
    @functools.wraps(loader)
    def load(filename, map_location=None, *args, **kwargs):
        return prepare_loaded_checkpoint(loader(filename, map_location, *args, **kwargs),
                                         filename)
    load.mmscratch_prepared = True
    return load


def install_mmengine_loaders() -> None:
    """Route MMEngine's ``CheckpointLoader`` schemes through this module (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if getattr(loader, 'mmscratch_prepared', False):
            continue
        CheckpointLoader.register_scheme(prefix, OWN_LOADERS.get(prefix) or _prepared(loader),
                                         force=True)
    for prefix, loader in OWN_LOADERS.items():
        if CheckpointLoader._schemes.get(prefix) is not loader:
            CheckpointLoader.register_scheme(prefix, loader, force=True)
