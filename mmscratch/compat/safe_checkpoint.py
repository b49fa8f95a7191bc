"""Load and resume MMEngine checkpoints on PyTorch >= 2.6 without unsafe pickle.

PyTorch 2.6 made ``torch.load(weights_only=True)`` the default. MMEngine 0.10.7
calls ``torch.load`` without the argument, and its checkpoints hold a few
non-tensor objects (``HistoryBuffer`` in the message hub, numpy arrays, dtypes
and scalars in logged values), so every load and ``--resume`` fails with
``UnpicklingError: Weights only load failed``.

The fix keeps the protection on: we add exactly those types to PyTorch's
allow-list (``torch.serialization.add_safe_globals``). Anything else in a
pickle, such as ``os.system`` reached through ``__reduce__``, is still refused
before it runs. Nothing here passes ``weights_only=False``.

One entry needs care: a ``HistoryBuffer`` pickles its statistics as bound
functions, i.e. ``getattr(HistoryBuffer, 'mean')``. Allowing the builtin ``getattr``
would let a pickle walk any attribute of any allowed object, so the name
``builtins.getattr`` is bound instead to :func:`history_buffer_getattr`, which
returns only those statistics methods of a ``HistoryBuffer`` and refuses
everything else.
"""
from __future__ import annotations

import functools
import pickle
from typing import List

import numpy as np
import torch


def _numpy_dtype_classes() -> List[type]:
    # numpy >= 1.25 pickles a dtype through its class (numpy.dtypes.Float64DType,
    # ...): allow the concrete classes of every builtin dtype.
    classes = {type(np.dtype(code)) for code in np.typecodes['All'] if code not in 'Mm'}
    classes |= {type(np.dtype('M8[s]')), type(np.dtype('m8[s]')), type(np.dtype('U1')),
                type(np.dtype('S1')), type(np.dtype('O')), type(np.dtype('V8'))}
    return sorted(classes, key=lambda c: c.__name__)


def _numpy_reconstructors() -> list:
    """Functions numpy's pickles call to rebuild arrays and scalars."""
    core = getattr(np, '_core', None) or np.core  # numpy 2 renamed core -> _core
    funcs = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    return funcs


#: HistoryBuffer's built-in statistics (``HistoryBuffer._set_default_statistics``).
DEFAULT_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods.

    The class holds them in ``_statistics_methods`` (``min``, ``max``,
    ``current``, ``mean`` and any registered with ``register_statistics``).
    """
    from mmengine.logging import HistoryBuffer

    is_history_buffer = obj is HistoryBuffer or type(obj) is HistoryBuffer
    # _statistics_methods is filled by the first HistoryBuffer() of a process,
    # so a fresh process that only loads a checkpoint finds it empty.
    allowed = DEFAULT_STATISTICS | set(HistoryBuffer._statistics_methods)
    if not is_history_buffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'refusing getattr({obj!r:.60}, {name!r}) in a checkpoint: only '
            'the statistics methods of mmengine HistoryBuffer are allowed')
    return getattr(obj, name)


def mmengine_checkpoint_safe_globals() -> list:
    """The non-tensor types that MMEngine/MMDetection checkpoints contain."""
    from mmengine.logging import HistoryBuffer

    return [HistoryBuffer, *_numpy_reconstructors(), *_numpy_dtype_classes(),
            (history_buffer_getattr, 'builtins.getattr'),
            (history_buffer_getattr, '__builtin__.getattr')]


@functools.lru_cache(maxsize=None)
def register_safe_globals() -> bool:
    """Allow-list MMEngine checkpoint types for ``weights_only`` loading.

    Idempotent; called when ``mmscratch`` is imported. Returns False on a
    PyTorch without ``add_safe_globals`` (< 2.4), where nothing is needed
    because ``weights_only`` defaults to False there.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return False
    add_safe_globals(mmengine_checkpoint_safe_globals())
    return True
