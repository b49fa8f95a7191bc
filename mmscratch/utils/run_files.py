"""The files a run leaves in its work dir for the analyses, and their readers.

``run_info.json`` (``RunInfoHook``) and ``curve_meta.json``
(``ConvergenceCurveHook``) are how the analysis tools learn what a run was;
``curve.jsonl`` (``ConvergenceCurveHook``: one record per evaluation,
``iter``, ``images_seen``, ``wall_time_s``, ``lr_steps`` and the COCO metrics
``bbox_mAP``, ..., ``segm_mAP_l``) is the convergence curve the plots draw.
Work dirs are shared and downloaded, so these readers never execute
anything, read at most ``MAX_BYTES``, keep only the fields they know, and
drop any value of the wrong type; a name is kept only when it cannot act as
a path (:func:`mmscratch.utils.config_facts.is_safe_name`).
"""
from __future__ import annotations

import errno
import json
import math
import os
import os.path as osp
import re
import stat
from typing import Any, Dict, Iterable, List

from .atomic_io import append_line, atomic_write_text
from .config_facts import is_safe_name

RUN_INFO_FILE = 'run_info.json'
CURVE_META_FILE = 'curve_meta.json'
MAX_BYTES = 1 << 20
_LABEL = re.compile(r'^[A-Za-z0-9_.+ -]{1,32}$')
_MODULE_NAME = re.compile(r'^[A-Za-z0-9_.()]{1,200}$')


def read_regular_file(path: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of someone else's directory, at most ``max_bytes``.

    Never follows a link (``O_NOFOLLOW``), never blocks on a FIFO or a device
    planted under the name (``O_NONBLOCK``, then only a regular file is read),
    and reads in a loop (one ``read`` may be short on network file systems).
    Raises ``OSError`` for a link, a missing or special file, and
    ``ValueError`` for a file larger than ``max_bytes``.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0)
                 | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, 'not a regular file', path)
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise ValueError(f'{path}: larger than {max_bytes} bytes; not read')
    return b''.join(chunks)


def read_json_file(path: str, max_bytes: int = MAX_BYTES) -> Any:
    """A JSON file's content, or None if missing, a link, not a regular file, too
    large or not JSON."""
    try:
        data = read_regular_file(path, max_bytes)
    except (OSError, ValueError):
        return None
    try:
        return json.loads(data.decode('utf-8'))
    except (ValueError, RecursionError):  # not UTF-8 / JSON, an int of 5000 digits, ...
        return None


def read_text_lines(path: str, max_bytes: int = 64 * MAX_BYTES) -> list:
    """The lines of a text file of a work dir, refusing a link, a FIFO or device,
    and a file too large."""
    return read_regular_file(path, max_bytes).decode('utf-8', errors='replace').splitlines()


#: Larger than any iteration, image or batch count a run can have (and exact in a
#: JSON double): a bigger number in a work dir's file is not a count.
MAX_COUNT = 2 ** 53


def _number(value) -> bool:
    """A finite JSON number of sane size (``NaN``/``Infinity`` and 300-digit
    integers are not measurements)."""
    if type(value) is int:
        return abs(value) < MAX_COUNT
    return type(value) is float and math.isfinite(value)


def _ap_ok(key: str, value) -> bool:
    """COCO AP is in [0, 1], or -1 (pycocotools' "not measurable"); 7.0 or 1e308
    would be shown as 700 % or inf: a wrong number, worse than none."""
    return 'mAP' not in key or value is None or value == -1 or 0 <= value <= 1


def clean_record(record) -> Dict[str, Any] | None:
    """A curve / scalars record with only well-typed values, or None if it has no
    integer iteration: numbers and ``None`` stay, lists of ints stay
    (``lr_steps``), anything else (text where a number belongs, ``NaN``, an AP
    outside [0, 1], a count beyond :data:`MAX_COUNT`) is dropped."""
    if not isinstance(record, dict):
        return None
    step = record.get('iter', record.get('step'))
    if not _count(step):
        return None
    clean: Dict[str, Any] = {}
    for key, value in record.items():
        if not isinstance(key, str) or len(key) > 64:
            continue
        if (value is None or _number(value)) and _ap_ok(key, value):
            clean[key] = value
        elif isinstance(value, list) and all(_count(v) for v in value):
            clean[key] = value
    if 'images_seen' in clean and type(clean['images_seen']) is not int:
        del clean['images_seen']
    return clean


def _count(value) -> bool:
    return type(value) is int and 0 <= value < MAX_COUNT


def read_run_info(work_dir: str) -> Dict[str, Any]:
    """The validated fields of ``run_info.json`` ({} without one)."""
    raw = read_json_file(osp.join(work_dir, RUN_INFO_FILE))
    if not isinstance(raw, dict):
        return {}
    info: Dict[str, Any] = {}
    if is_safe_name(raw.get('config_name')):
        info['config_name'] = raw['config_name']
    if raw.get('arm') in ('scratch', 'pretrained'):
        info['arm'] = raw['arm']
    for key in ('schedule', 'norm'):
        if isinstance(raw.get(key), str) and _LABEL.match(raw[key]):
            info[key] = raw[key]
    for key in ('max_iters', 'batch_size', 'world_size', 'warmup_iters', 'seed'):
        if _count(raw.get(key)):
            info[key] = raw[key]
    steps = raw.get('lr_steps')
    if isinstance(steps, list) and all(_count(s) for s in steps):
        info['lr_steps'] = steps
    frozen = raw.get('frozen')
    if isinstance(frozen, list) and len(frozen) <= 1000 and all(
            isinstance(s, str) and _MODULE_NAME.match(s) for s in frozen):
        info['frozen'] = frozen
    sources = raw.get('pretrained_sources')
    if isinstance(sources, list) and all(isinstance(s, str) for s in sources):
        info['pretrained_sources'] = [s[:300] for s in sources]
    return info


def read_curve_meta(work_dir: str) -> Dict[str, Any]:
    """The validated fields of ``curve_meta.json`` ({} without one)."""
    raw = read_json_file(osp.join(work_dir, CURVE_META_FILE))
    if not isinstance(raw, dict):
        return {}
    meta: Dict[str, Any] = {}
    if is_safe_name(raw.get('config_name')):
        meta['config_name'] = raw['config_name']
    for key in ('max_iters', 'batch_size'):
        if _count(raw.get(key)):
            meta[key] = raw[key]
    for key in ('lr_steps', 'eval_points'):
        if isinstance(raw.get(key), list) and all(_count(s) for s in raw[key]):
            meta[key] = raw[key]
    return meta


def run_name(work_dir: str) -> str:
    """The run's config name (run_info, else curve meta), else its directory name."""
    return (read_run_info(work_dir).get('config_name')
            or read_curve_meta(work_dir).get('config_name')
            or osp.basename(osp.normpath(work_dir)))


# ------------------------------------------------- the convergence curve
CURVE_FILE = 'curve.jsonl'


def curve_path(run_dir: str) -> str:
    return osp.join(run_dir, CURVE_FILE)


def read_curve(path_or_dir: str) -> List[dict]:
    """Records of one run, sorted by iteration; a torn last line is ignored.

    Work dirs come from others: the file is read without following a link and
    up to a size limit, and a record that is not a dict with an integer
    ``iter`` (or a value of the wrong type) is dropped, never trusted.
    """
    path = curve_path(path_or_dir) if osp.isdir(path_or_dir) else path_or_dir
    if not osp.isfile(path):
        raise FileNotFoundError(f'no convergence curve at {path}')
    records = []
    lines = read_text_lines(path)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = clean_record(json.loads(line))
        except (ValueError, RecursionError) as exc:
            if lineno == len(lines):  # a write cut short by a crash
                break
            raise ValueError(f'{path}:{lineno}: not a JSON record ({exc})') from exc
        if record is not None:
            records.append(record)
    return sorted(records, key=lambda r: r['iter'])


def write_curve(path: str, records: Iterable[dict]) -> None:
    """Rewrite a curve file atomically (temp file, fsync, rename)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write_text(path, ''.join(json.dumps(r, sort_keys=True) + '\n' for r in records))


def append_record(path: str, record: dict) -> None:
    """Append one record durably; a symlink planted at ``path`` is refused."""
    append_line(path, json.dumps(record, sort_keys=True) + '\n')
def read_last_checkpoint(work_dir: str):
    """The checkpoint ``WORK_DIR/last_checkpoint`` names, if that file exists: what
    ``--resume`` continues from. None when there is none (nothing is printed,
    unlike MMEngine's ``find_latest_checkpoint``)."""
    try:
        lines = read_text_lines(osp.join(work_dir, 'last_checkpoint'), max_bytes=4096)
    except (OSError, ValueError):
        return None
    path = lines[0].strip() if lines else ''
    return path if path and osp.isfile(path) else None
