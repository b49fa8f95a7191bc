"""A backbone's weights as a checkpoint in MMDetection's backbone key layout.

What ImageNet checkpoints are to MMDetection's COCO configs, these files are
to the demo's pretrained twin: ``{'state_dict': {<backbone keys>}, 'meta':
{...}}`` with exactly the keys of the backbone module (``conv1.weight``,
``gn1.weight``, ``layer1.0.conv1.weight``, ... -- no ``backbone.`` prefix, no
classifier head), loaded by ``init_cfg=dict(type='Pretrained',
checkpoint=PATH)`` with no missing or unexpected key. They are written as
plain data (:mod:`.plain_data`) through an atomic, exclusively created
temporary file, so mmscratch's safe loader reads them with nothing
allow-listed.
"""
from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from typing import Optional, Tuple

import torch
import torch.nn as nn

from ..utils.atomic_io import atomic_write_bytes, write_new_file
from .loading import load_checkpoint_file
from .plain_data import to_plain_data

#: Key of the export's ``meta`` describing where the weights come from.
META_KEY = 'mmscratch_backbone'


def backbone_state_dict(module: nn.Module) -> 'OrderedDict[str, torch.Tensor]':
    """Detached CPU copies of ``module``'s state dict (parameters and buffers)."""
    return OrderedDict((k, v.detach().to('cpu', copy=True)) for k, v in
                       module.state_dict().items())


def strip_prefix(state_dict: dict, prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    """The entries under ``prefix`` (e.g. ``'backbone.'``), with the prefix removed."""
    out = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    if not out:
        raise ValueError(f'no weights under the prefix {prefix!r}')
    return out


def save_backbone_checkpoint(path: str, state_dict: dict, meta: Optional[dict] = None,
                             overwrite: bool = True) -> str:
    """Write ``{'state_dict', 'meta'}`` as plain data; returns the file's sha256.

    ``overwrite=False`` creates the file exclusively (an existing file or a
    link at ``path`` is an error instead of being replaced).
    """
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(f'state_dict entry {key!r:.60} is not a named tensor')
    payload = to_plain_data({'state_dict': OrderedDict(state_dict),
                             'meta': {META_KEY: dict(meta or {})}})
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    (atomic_write_bytes if overwrite else write_new_file)(path, data)
    return hashlib.sha256(data).hexdigest()


def load_backbone_checkpoint(path: str) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """``(state_dict, meta)`` of a backbone checkpoint, read by the safe loader."""
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    state = checkpoint.get('state_dict') if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{path}: not a backbone checkpoint (no state_dict of tensors)')
    meta = checkpoint.get('meta') if isinstance(checkpoint.get('meta'), dict) else {}
    return OrderedDict(state), dict(meta.get(META_KEY) or {})


def export_backbone(src: str, dst: str, prefix: str = 'backbone.') -> dict:
    """Take the backbone out of a whole-model checkpoint (e.g. a classifier's
    ``iter_N.pth``) into a new backbone checkpoint ``dst`` (never replaced).
    Returns the exported state dict's key count and the sha256."""
    checkpoint = load_checkpoint_file(src, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{src}: holds no state_dict')
    backbone = strip_prefix(state, prefix)
    sha = save_backbone_checkpoint(dst, backbone, dict(source=str(src), prefix=prefix),
                                   overwrite=False)
    return dict(keys=len(backbone), sha256=sha)
