"""Read checkpoints of the older format (numpy inside) as data, without numpy's constructors.

Stock MMEngine 0.10.7 (and mmscratch before its plain-data format) pickles
numpy arrays, scalars and dtypes and ``HistoryBuffer`` objects into every
checkpoint. Unpickling those normally *calls* numpy's ``_reconstruct``,
``scalar`` and ``dtype`` with arguments from the file and then runs their
``__setstate__`` with more of them; a forged file uses exactly that to build
an object dtype with its reference flags cleared and make numpy dereference
a pointer of its choosing. Allow-listing those globals in torch's
``weights_only`` loader therefore opens memory corruption.

Here the same pickle is read by torch's own ``weights_only`` unpickler, in a
private copy of its module (so torch's process-wide safe list is never
touched), in which each of those globals names a stand-in of ours:

* ``numpy.dtype(code, align, copy)`` and its state: only the 14 numeric and
  bool type codes, in the exact state numpy writes for them;
* ``_reconstruct`` + state of an array: only a version-1 state whose shape,
  dtype (one of the above) and byte string agree, rebuilt with
  ``np.frombuffer(...).copy()``;
* ``scalar(dtype, bytes)``: one item of such a dtype, from exactly its bytes;
* ``HistoryBuffer`` and the ``getattr(HistoryBuffer, name)`` its pickle uses
  for statistics names: recorded as names and rebuilt as a fresh buffer.

No numpy constructor ever receives an argument from the file. A stand-in
that is built twice, left unbuilt, or found anywhere else than where numpy's
own pickles put it is refused. Anything else the file names is refused by
torch's unpickler as usual.
"""
from __future__ import annotations

import functools
import importlib.util
import io
import pickle
import zipfile
from collections import Counter, OrderedDict
from typing import Any, Dict

import numpy as np
import torch

from .plain_data import CheckpointDataError, history_buffer

#: What numpy writes as ``numpy.dtype``'s first argument for numeric and bool types.
DTYPE_CODES = frozenset(
    {'b1', 'i1', 'u1', 'i2', 'u2', 'i4', 'u4', 'i8', 'u8', 'f2', 'f4', 'f8', 'c8', 'c16'})
#: The globals an older MMEngine checkpoint holds besides torch's own.
LEGACY_GLOBALS = frozenset({
    'numpy._core.multiarray._reconstruct', 'numpy.core.multiarray._reconstruct',
    'numpy._core.multiarray.scalar', 'numpy.core.multiarray.scalar',
    'numpy.ndarray', 'numpy.dtype', 'mmengine.logging.history_buffer.HistoryBuffer',
    'builtins.getattr', '__builtin__.getattr',
})
_MAX_NDIM = 32
_MAX_NAME = 64


def _refuse(message: str):
    raise pickle.UnpicklingError(message)


class _NdarrayName:
    """What ``numpy.ndarray`` names in a pickle: only ever an argument of ``_reconstruct``."""

    def __new__(cls, *args, **kwargs):
        _refuse('numpy.ndarray may only appear as the first argument of _reconstruct')


def _is_int(value, expected: int) -> bool:
    return type(value) is int and value == expected


class _DTypeStub:
    """``numpy.dtype(code, False, True)``, then its state (BUILD)."""

    code = None
    dtype = None

    def __init__(self, code=None, align=False, copy=True):
        if type(code) is not str or code not in DTYPE_CODES or align is not False \
                or copy is not True:
            _refuse(f'refusing numpy dtype {code!r:.40} (only numeric and bool dtypes)')
        self.code = code
        self.dtype = None

    def __setstate__(self, state) -> None:
        if self.code is None or self.dtype is not None:
            _refuse('a numpy dtype was built twice, or without its code')
        if not (type(state) is tuple and len(state) == 8):
            _refuse('malformed numpy dtype state')
        version, order, subarray, names, fields, elsize, alignment, flags = state
        base = np.dtype(self.code)
        expected_order = ('|',) if base.itemsize == 1 else ('<', '>')
        if not _is_int(version, 3) or type(order) is not str or order not in expected_order \
                or subarray is not None or names is not None or fields is not None \
                or not _is_int(elsize, -1) or not _is_int(alignment, -1) \
                or not _is_int(flags, 0):
            _refuse(f'refusing numpy dtype {self.code} with state {state!r:.80}: not the '
                    'state numpy writes for a numeric dtype')
        self.dtype = base if order == '|' else base.newbyteorder(order)

    def built(self) -> np.dtype:
        if self.dtype is None:
            _refuse('a numpy dtype was never given its state')
        return self.dtype


class _ArrayStub:
    """The empty array ``_reconstruct`` makes, then its state (BUILD)."""

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            _refuse('numpy array stand-in takes no arguments')
        stub = super().__new__(cls)
        stub.array = None
        return stub

    def __setstate__(self, state) -> None:
        if self.array is not None:
            _refuse('a numpy array was built twice')
        if not (type(state) is tuple and len(state) == 5):
            _refuse('malformed numpy array state')
        version, shape, dtype, is_fortran, raw = state
        if not _is_int(version, 1) or type(shape) is not tuple or len(shape) > _MAX_NDIM \
                or not all(type(n) is int and n >= 0 for n in shape):
            _refuse(f'malformed numpy array state (shape {shape!r:.60})')
        if type(dtype) is not _DTypeStub or type(is_fortran) is not bool:
            _refuse('malformed numpy array state (dtype)')
        dtype = dtype.built()
        if type(raw) not in (bytes, bytearray):
            _refuse('refusing a numpy array whose data is not a byte string')
        count = 1
        for n in shape:
            count *= n
        if len(raw) != count * dtype.itemsize:
            _refuse(f'refusing a numpy array of shape {shape} and dtype {dtype}: '
                    f'{len(raw)} bytes of data where {count * dtype.itemsize} are needed')
        flat = np.frombuffer(bytes(raw), dtype=dtype)
        self.array = flat.reshape(shape, order='F' if is_fortran else 'C').copy()

    def built(self) -> np.ndarray:
        if self.array is None:
            _refuse('a numpy array was never given its state')
        return self.array


def _reconstruct(cls=None, shape=None, typecode=None) -> _ArrayStub:
    if cls is not _NdarrayName or type(shape) is not tuple or len(shape) != 1 \
            or not _is_int(shape[0], 0) or type(typecode) is not bytes or typecode != b'b':
        _refuse('refusing numpy _reconstruct with other arguments than numpy writes')
    return _ArrayStub()


def _scalar(dtype=None, data=None, *rest):
    if rest or type(dtype) is not _DTypeStub or type(data) is not bytes:
        _refuse('refusing numpy scalar without a numeric dtype and its bytes')
    dtype = dtype.built()
    if len(data) != dtype.itemsize:
        _refuse(f'refusing numpy scalar of dtype {dtype}: {len(data)} bytes of data')
    return np.frombuffer(data, dtype=dtype)[0]


class _StatisticName:
    """``getattr(HistoryBuffer, name)`` in a HistoryBuffer's pickle: kept as a name."""

    def __init__(self, name: str):
        self.name = name


def _getattr(obj=None, name=None) -> _StatisticName:
    if obj is not _HistoryBufferStub or type(name) is not str or not name.isidentifier() \
            or len(name) > _MAX_NAME or name.startswith('_'):
        _refuse(f'refusing getattr({obj!r:.40}, {name!r:.40}) in a checkpoint: only '
                'the statistics names of an MMEngine HistoryBuffer')
    return _StatisticName(name)


class _HistoryBufferStub:
    """A ``HistoryBuffer`` (NEWOBJ, then BUILD with its ``__dict__``)."""

    _KEYS = frozenset({'max_length', '_log_history', '_count_history', 'statistics_methods'})

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            _refuse('HistoryBuffer stand-in takes no arguments')
        stub = super().__new__(cls)
        stub.state = None
        return stub

    def __setstate__(self, state) -> None:
        if self.state is not None:
            _refuse('a HistoryBuffer was built twice')
        if type(state) is not dict or not set(state) <= self._KEYS \
                or not {'_log_history', '_count_history'} <= set(state):
            _refuse('malformed HistoryBuffer state')
        methods = state.get('statistics_methods', {})
        if type(methods) is not dict or not all(
                type(k) is str and type(v) is _StatisticName for k, v in methods.items()):
            _refuse('malformed HistoryBuffer statistics')
        for key in ('_log_history', '_count_history'):
            if type(state[key]) is not _ArrayStub:
                _refuse(f'malformed HistoryBuffer {key}')
        self.state = state

    def built(self, where: str):
        if self.state is None:
            _refuse('a HistoryBuffer was never given its state')
        try:
            return history_buffer(self.state['_log_history'].built(),
                                  self.state['_count_history'].built(),
                                  self.state.get('max_length', 1000000), where)
        except CheckpointDataError as exc:
            _refuse(str(exc))


# A tuple's name is what a GLOBAL opcode must spell to reach the object. The
# stubs' own names contain a newline, which GLOBAL cannot express: they are
# listed only so that torch's unpickler lets BUILD call their __setstate__.
_STAND_INS = [
    (_reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_reconstruct, 'numpy.core.multiarray._reconstruct'),
    (_scalar, 'numpy._core.multiarray.scalar'),
    (_scalar, 'numpy.core.multiarray.scalar'),
    (_NdarrayName, 'numpy.ndarray'),
    (_DTypeStub, 'numpy.dtype'),
    (_HistoryBufferStub, 'mmengine.logging.history_buffer.HistoryBuffer'),
    (_getattr, 'builtins.getattr'),
    (_ArrayStub, 'mmscratch\n_ArrayStub'),
]


@functools.lru_cache(maxsize=None)
def private_unpickler():
    """torch's ``weights_only`` unpickler module, loaded again under our own name.

    It is torch's code, unchanged, but with a safe list of its own that holds
    only the stand-ins above; ``torch.serialization``'s list stays untouched.
    """
    import torch._weights_only_unpickler as torch_module
    spec = importlib.util.spec_from_file_location(
        __name__ + '._weights_only_unpickler', torch_module.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._clear_safe_globals()
    module._add_safe_globals(_STAND_INS)
    return module


_STUB_TYPES = (_ArrayStub, _DTypeStub, _HistoryBufferStub)
#: The stand-ins themselves: a GLOBAL pushes them, but they are not data.
_NAMES = tuple(obj for obj, _ in _STAND_INS)
_NOT_DATA = (_StatisticName, _NdarrayName)


def _resolve(obj: Any, where: str, memo: Dict[int, Any]) -> Any:
    """Replace every stand-in by the numpy value / HistoryBuffer it stands for."""
    key = id(obj)
    if key in memo:
        return memo[key]
    if type(obj) is _ArrayStub:
        result = obj.built()
    elif type(obj) is _DTypeStub:
        result = obj.built()
    elif type(obj) is _HistoryBufferStub:
        result = obj.built(where)
    elif isinstance(obj, _NOT_DATA) or any(obj is name for name in _NAMES):
        _refuse(f'{where}: a numpy/HistoryBuffer name outside the place numpy and '
                'MMEngine write it')
    elif type(obj) in (dict, OrderedDict, Counter):
        memo[key] = obj
        for k in list(obj):
            if isinstance(k, _STUB_TYPES + _NOT_DATA):
                _refuse(f'{where}: a numpy value used as a dict key')
            obj[k] = _resolve(obj[k], f'{where}.{k}', memo)
        return obj
    elif type(obj) is list:
        memo[key] = obj
        for i, item in enumerate(obj):
            obj[i] = _resolve(item, f'{where}.{i}', memo)
        return obj
    elif type(obj) is tuple:
        result = tuple(_resolve(item, f'{where}.{i}', memo) for i, item in enumerate(obj))
    elif type(obj) is set:
        result = {_resolve(item, where, memo) for item in obj}
    else:
        return obj
    memo[key] = result
    return result


def _refuse_stand_ins(obj: Any, where: str, seen: set) -> None:
    """After resolving: no stand-in may be left anywhere reachable.

    Looks through containers, dict keys (tuples included) and the
    ``__dict__`` that BUILD can give an ``OrderedDict`` or a tensor.
    """
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, _STUB_TYPES + _NOT_DATA) or any(obj is name for name in _NAMES):
        _refuse(f'{where}: a numpy/HistoryBuffer value in a place numpy and MMEngine never '
                'write one')
    if isinstance(obj, dict):
        for key, value in obj.items():
            _refuse_stand_ins(key, f'{where} (a key)', seen)
            _refuse_stand_ins(value, f'{where}.{key}', seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, item in enumerate(obj):
            _refuse_stand_ins(item, f'{where}.{i}', seen)
    extra = getattr(obj, '__dict__', None) if isinstance(obj, (dict, torch.Tensor)) else None
    if isinstance(extra, dict):
        for key, value in extra.items():
            _refuse_stand_ins(value, f'{where}.__dict__.{key}', seen)


def _refuse_what_torch_would_not_unpickle(file) -> None:
    """Refuse a file ``torch.load`` would not read as a zip checkpoint's pickle.

    Judged by the same functions ``torch.load`` dispatches with, on the same
    bytes: Python's ``zipfile`` and torch's reader can see different archives
    in one file (a file can be a numpy checkpoint to the one and a TorchScript
    archive to the other), so only torch's own answer counts.
    """
    from torch import serialization

    start = file.tell()
    try:
        if not serialization._is_zipfile(file):
            _refuse('the older (numpy) format is read only from zip checkpoints '
                    '(torch >= 1.6)')
        with serialization._open_zipfile_reader(file) as reader:
            if serialization._is_torchscript_zip(reader):
                _refuse('a TorchScript archive, not a checkpoint')  # torch.load runs torch.jit
    finally:
        file.seek(start)
    with zipfile.ZipFile(file) as archive:  # the same, as Python's zipfile sees it
        if any(n.split('/')[-1] == 'constants.pkl' for n in archive.namelist()):
            _refuse('a TorchScript archive, not a checkpoint')
    file.seek(start)


def load_legacy_checkpoint(file, map_location=None) -> Any:
    """Load a zip-format checkpoint with numpy/HistoryBuffer values as data.

    ``file`` is a path (read into memory first) or a seekable file object
    (mmscratch's loader passes the bytes it already read): every check and the
    load see the same bytes. Raises ``pickle.UnpicklingError`` for anything torch's
    ``weights_only`` loader would refuse besides the stand-ins' globals, and
    for any use of those globals other than numpy's and MMEngine's own.
    """
    if not hasattr(file, 'read'):
        with open(file, 'rb') as f:
            file = io.BytesIO(f.read())
    _refuse_what_torch_would_not_unpickle(file)
    # weights_only=False only because torch forbids naming a pickle module
    # otherwise: the module given *is* torch's weights_only unpickler (a copy
    # with our own safe list), so the same restrictions apply. What torch.load
    # does *before* unpickling with weights_only=False -- hand a TorchScript
    # archive to torch.jit, a non-zip file to its legacy readers -- is refused
    # just above, judged on these same bytes by torch's own tests.
    loaded = torch.load(file, map_location=map_location, weights_only=False,
                        pickle_module=private_unpickler())
    resolved = _resolve(loaded, 'checkpoint', {})
    _refuse_stand_ins(resolved, 'checkpoint', set())
    return resolved
