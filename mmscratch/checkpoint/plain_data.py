"""Checkpoint contents as plain data, so that nothing needs allow-listing.

MMEngine 0.10.7 writes numpy arrays and scalars (logged values) and its
``HistoryBuffer`` (the message hub's log scalars) into every checkpoint.
PyTorch's ``weights_only`` loader refuses them, and allow-listing numpy's
constructors would let a forged file call them with arguments of its own
(numpy's ``scalar``/``_reconstruct`` and ``__setstate__`` can be made to read
attacker-chosen memory). So mmscratch never writes them:
:func:`to_plain_data` turns each into a small tagged dict of tensors and
Python numbers before the checkpoint is saved, and :func:`from_plain_data`
rebuilds them after it is loaded. What remains is exactly what torch's
default loader reads with an empty allow-list: tensors, ``torch.Size``,
dtypes, devices, ``None``/bool/int/float/complex/str/bytes, and dicts,
``OrderedDict``/``Counter``, lists, tuples and sets of those.

Encoding is exact: arrays keep their dtype, shape and bytes (a float64 loss
history comes back bit for bit), so a resume continues the same logs.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any

import numpy as np
import torch

#: Key marking a dict that stands for a non-plain object.
TAG = '__mmscratch_plain__'
NDARRAY = 'numpy.ndarray'
SCALAR = 'numpy.scalar'
DTYPE = 'numpy.dtype'
HISTORY_BUFFER = 'mmengine.HistoryBuffer'

#: numpy dtypes a checkpoint may hold: numbers and booleans, nothing that
#: holds references (object), text or structure.
NUMERIC_KINDS = frozenset('biufc')

_PLAIN_LEAVES = (type(None), bool, int, float, complex, str, bytes, bytearray,
                 torch.dtype, torch.device, torch.Size, torch.layout)


class CheckpointDataError(ValueError):
    """A checkpoint holds something that is not plain data, or a malformed tag."""


def _is_numeric(dtype: np.dtype) -> bool:
    return dtype.kind in NUMERIC_KINDS and dtype.names is None and dtype.subdtype is None


def _tensor_of(array: np.ndarray, where: str) -> torch.Tensor:
    if not _is_numeric(array.dtype):
        raise CheckpointDataError(
            f'{where}: a numpy array of dtype {array.dtype} cannot be saved as data '
            '(only numeric and bool arrays)')
    # a C-ordered, native-endian copy (np.ascontiguousarray would make 0-d arrays 1-d)
    native = np.array(array, dtype=array.dtype.newbyteorder('='), order='C', copy=True)
    try:
        return torch.from_numpy(native)
    except TypeError:  # e.g. float128, which torch has no dtype for
        raise CheckpointDataError(
            f'{where}: a numpy array of dtype {array.dtype} has no torch equivalent') from None


def _array_tag(kind: str, array: np.ndarray, where: str) -> dict:
    tag = {TAG: kind, 'tensor': _tensor_of(array, where)}
    if not array.dtype.isnative:
        tag['byteorder'] = array.dtype.byteorder  # a non-native order comes back as it was
    return tag


def _is_plain_key(key: Any) -> bool:
    """Exact Python types only: ``np.float64`` or ``np.str_`` subclass them but pickle
    as numpy objects."""
    if type(key) is tuple:
        return all(_is_plain_key(k) for k in key)
    return type(key) in (str, int, float, bool, type(None), bytes)


def to_plain_data(obj: Any, where: str = 'checkpoint') -> Any:
    """A copy of ``obj`` with numpy values and ``HistoryBuffer``s as tagged dicts.

    Raises :class:`CheckpointDataError` naming the key path of anything else
    that torch's default ``weights_only`` loader would refuse, so a run fails
    at its first save instead of writing a checkpoint nobody can load safely.
    """
    from mmengine.logging import HistoryBuffer

    if isinstance(obj, torch.Tensor) or type(obj) in _PLAIN_LEAVES:
        return obj
    if isinstance(obj, np.ndarray):
        return _array_tag(NDARRAY, obj, where)
    if isinstance(obj, np.generic):
        if isinstance(obj, np.str_):
            return str(obj)
        if isinstance(obj, np.bytes_):
            return bytes(obj)
        return _array_tag(SCALAR, np.asarray(obj), where)
    if isinstance(obj, np.dtype):
        if not _is_numeric(obj):
            raise CheckpointDataError(f'{where}: numpy dtype {obj} cannot be saved as data')
        return {TAG: DTYPE, 'name': obj.str}
    if type(obj) is HistoryBuffer:
        log, count = obj.data
        return {TAG: HISTORY_BUFFER, 'max_length': int(obj.max_length),
                'log_history': to_plain_data(np.asarray(log), where + '.log_history'),
                'count_history': to_plain_data(np.asarray(count), where + '.count_history')}
    if type(obj) in (dict, OrderedDict, Counter):
        if TAG in obj:
            raise CheckpointDataError(f'{where}: a dict may not use the key {TAG!r}')
        out = type(obj)()
        for key, value in obj.items():
            if not _is_plain_key(key):
                raise CheckpointDataError(
                    f'{where}: dict key {key!r:.60} of type {type(key).__name__} is not plain '
                    'data')
            out[key] = to_plain_data(value, f'{where}.{key}')
        return out
    if type(obj) is set:
        if not all(_is_plain_key(item) for item in obj):
            raise CheckpointDataError(f'{where}: a set may hold only strings, numbers and '
                                      'tuples of them')
        return set(obj)
    if type(obj) in (list, tuple):
        items = [to_plain_data(v, f'{where}.{i}') for i, v in enumerate(obj)]
        return type(obj)(items)
    raise CheckpointDataError(
        f'{where}: {type(obj).__module__}.{type(obj).__qualname__} is not plain data; a '
        'safe loader could not read it back (store tensors, numbers, strings, lists '
        'and dicts in checkpoints)')


# ---------------------------------------------------------------- decoding
def _array_from(tag: dict, where: str) -> np.ndarray:
    tensor = tag.get('tensor')
    order = tag.get('byteorder')
    if not set(tag) <= {TAG, 'tensor', 'byteorder'} or type(tensor) is not torch.Tensor or \
            tensor.layout != torch.strided or order not in (None, '<', '>'):
        raise CheckpointDataError(f'{where}: malformed {tag.get(TAG)} entry')
    try:
        array = tensor.detach().cpu().numpy().copy()
    except (TypeError, RuntimeError) as exc:  # e.g. bfloat16 has no numpy dtype
        raise CheckpointDataError(f'{where}: {exc}') from None
    if not _is_numeric(array.dtype):
        raise CheckpointDataError(f'{where}: dtype {array.dtype} is not numeric')
    if order is not None:
        array = array.astype(array.dtype.newbyteorder(order))
    return array


def _decode_tag(tag: dict, where: str) -> Any:
    kind = tag[TAG]
    if kind == NDARRAY:
        return _array_from(tag, where)
    if kind == SCALAR:
        array = _array_from(tag, where)
        if array.ndim != 0:
            raise CheckpointDataError(f'{where}: a numpy scalar must be 0-d')
        return array[()]
    if kind == DTYPE:
        name = tag.get('name')
        if set(tag) != {TAG, 'name'} or not isinstance(name, str) or len(name) > 8:
            raise CheckpointDataError(f'{where}: malformed numpy.dtype entry')
        try:
            dtype = np.dtype(name)
        except Exception:  # np.dtype parses the name: a junk name can raise anything
            raise CheckpointDataError(f'{where}: unknown numpy dtype {name!r}') from None
        if not _is_numeric(dtype):
            raise CheckpointDataError(f'{where}: numpy dtype {name!r} is not numeric')
        return dtype
    if kind == HISTORY_BUFFER:
        if set(tag) != {TAG, 'max_length', 'log_history', 'count_history'}:
            raise CheckpointDataError(f'{where}: malformed HistoryBuffer entry')
        max_length = tag['max_length']
        log = from_plain_data(tag['log_history'], where + '.log_history')
        count = from_plain_data(tag['count_history'], where + '.count_history')
        return history_buffer(log, count, max_length, where)
    raise CheckpointDataError(f'{where}: unknown entry type {kind!r}')


def history_buffer(log, count, max_length, where: str):
    """A ``HistoryBuffer`` from validated parts (also used for older checkpoints)."""
    from mmengine.logging import HistoryBuffer

    if not (isinstance(log, np.ndarray) and isinstance(count, np.ndarray)
            and log.ndim == 1 and count.ndim == 1 and len(log) == len(count)):
        raise CheckpointDataError(
            f'{where}: a HistoryBuffer needs two 1-d numeric arrays of equal length')
    if type(max_length) is not int or max_length <= 0:
        raise CheckpointDataError(f'{where}: HistoryBuffer max_length must be a positive int')
    buffer = HistoryBuffer(max_length=max_length)
    # assigned, not passed to __init__: np.array() of the arguments would copy
    # them again and could change an integer history's dtype
    buffer._log_history = log[-max_length:]
    buffer._count_history = count[-max_length:]
    return buffer


def from_plain_data(obj: Any, where: str = 'checkpoint') -> Any:
    """Inverse of :func:`to_plain_data`; validates every tagged entry.

    Containers are rebuilt only where something inside them changed, so
    tensors and untouched dicts keep their identity (and the cost of a walk
    over a large state dict stays small).
    """
    if type(obj) in (dict, OrderedDict, Counter):
        if TAG in obj:
            return _decode_tag(obj, where)
        changed = False
        out = type(obj)()
        for key, value in obj.items():
            new = from_plain_data(value, f'{where}.{key}')
            changed |= new is not value
            out[key] = new
        return out if changed else obj
    if type(obj) in (list, tuple):
        items = [from_plain_data(v, f'{where}.{i}') for i, v in enumerate(obj)]
        if any(new is not old for new, old in zip(items, obj)):
            return type(obj)(items)
        return obj
    return obj
