"""A checkpoint's file bookkeeping, checked before any hook turns it into a path.

MMEngine's ``CheckpointHook`` keeps three things in the message hub's
``runtime_info``, saves them in every checkpoint and acts on them after a
resume:

* ``keep_ckpt_ids``: steps whose checkpoints it keeps; in ``before_train`` it
  deletes ``out_dir/filename_tmpl.format(step)`` for the oldest ones. A step
  that is a string (``'x/../../victim'``) makes that a path anywhere (through
  a directory or link planted in a shared work dir).
* ``best_ckpt`` and ``best_ckpt_<metric>``: the previous best checkpoint,
  which it deletes when a new best comes -- whatever path the checkpoint
  names (``/home/you/thesis.tex``).

:func:`check_bookkeeping` runs on every checkpoint mmscratch's loader reads
(so on every MMEngine load path once ``mmscratch`` is imported, for MMEngine's
own ``CheckpointHook`` as much as for ``SafeCheckpointHook``): a
``keep_ckpt_ids`` that is not a list of non-negative ints is dropped, and a
best-checkpoint path is kept only when it names a ``best_*`` file directly in
the directory of the checkpoint being loaded (where the hook wrote it). What
is dropped is logged; the cost is at most an old best checkpoint or an old
``iter_N.pth`` left undeleted.
"""
from __future__ import annotations

import os.path as osp
import re
from typing import Any, List, Optional

#: The runtime_info keys MMEngine's CheckpointHook deletes files by.
KEEP_IDS_KEY = 'keep_ckpt_ids'
_BEST_KEY = re.compile(r'^best_ckpt(_.*)?$')


def valid_steps(value: Any) -> bool:
    """A list of non-negative ints (what ``keep_ckpt_ids`` holds when honest)."""
    return isinstance(value, (list, tuple)) and all(
        type(step) is int and step >= 0 for step in value)


def _best_path_ok(value: Any, directory: Optional[str]) -> bool:
    if not isinstance(value, str) or directory is None or '\x00' in value:
        return False
    parts = value.replace('\\', '/').split('/')
    name = parts[-1]
    return ('..' not in parts and name.startswith('best_')
            and osp.normpath(osp.dirname(osp.abspath(value))) == directory)


def check_bookkeeping(checkpoint: Any, source: str) -> List[str]:
    """Drop the bookkeeping entries that would delete files outside the run.

    Args:
        checkpoint: a loaded checkpoint (changed in place).
        source: where it was read from; a local file's directory is where its
            own best checkpoints live (for a URL or bytes there is none, and
            best-checkpoint paths are dropped).

    Returns:
        One message per dropped entry (already logged).
    """
    hub = checkpoint.get('message_hub') if isinstance(checkpoint, dict) else None
    info = hub.get('runtime_info') if isinstance(hub, dict) else None
    if not isinstance(info, dict):
        return []
    directory = None
    if isinstance(source, str) and '://' not in source and osp.isfile(source):
        directory = osp.normpath(osp.dirname(osp.abspath(source)))
    dropped = []
    for key in list(info):
        value = info[key]
        if key == KEEP_IDS_KEY and not valid_steps(value):
            reason = 'not a list of iteration numbers'
        elif isinstance(key, str) and _BEST_KEY.match(key) and value is not None \
                and not _best_path_ok(value, directory):
            reason = f'not a best_* file beside {osp.basename(str(source))}'
        else:
            continue
        del info[key]
        resumed = hub.get('resumed_keys')
        if isinstance(resumed, dict):
            resumed.pop(key, None)
        dropped.append(f'{source}: ignored runtime_info[{key!r}] = {value!r:.120} '
                       f'({reason}); checkpoint hooks delete files by it')
    if dropped:
        import logging

        from mmengine.logging import print_log
        for message in dropped:
            print_log(message, logger='current', level=logging.WARNING)
    return dropped
