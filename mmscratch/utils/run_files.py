"""The small JSON files a run leaves in its work dir, read back as validated data.

``run_info.json`` (``RunInfoHook``) and ``curve_meta.json``
(``ConvergenceCurveHook``) are how the analysis tools learn what a run was.
Work dirs are shared and downloaded, so these readers never execute
anything, read at most ``MAX_BYTES``, keep only the fields they know, and
drop any value of the wrong type; a name is kept only when it cannot act as
a path (:func:`mmscratch.utils.config_facts.is_safe_name`).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
from typing import Any, Dict

from .config_facts import is_safe_name

RUN_INFO_FILE = 'run_info.json'
CURVE_META_FILE = 'curve_meta.json'
MAX_BYTES = 1 << 20
_LABEL = re.compile(r'^[A-Za-z0-9_.+ -]{1,32}$')


def read_json_file(path: str, max_bytes: int = MAX_BYTES) -> Any:
    """A JSON file's content, or None if missing, a link, too large or not JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    except OSError:
        return None
    try:
        data = os.read(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return None
    try:
        return json.loads(data.decode('utf-8'))
    except (ValueError, RecursionError):  # not UTF-8 / JSON, an int of 5000 digits, ...
        return None


def read_text_lines(path: str, max_bytes: int = 64 * MAX_BYTES) -> list:
    """The lines of a text file of a work dir, refusing a link and a file too large."""
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    try:
        data = os.read(fd, max_bytes + 1)
        while len(data) <= max_bytes:
            more = os.read(fd, max_bytes + 1 - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f'{path}: larger than {max_bytes} bytes; not read')
    return data.decode('utf-8', errors='replace').splitlines()


def _number(value) -> bool:
    return type(value) in (int, float)


def clean_record(record) -> Dict[str, Any] | None:
    """A curve / scalars record with only well-typed values, or None if it has no
    integer iteration: numbers and ``None`` stay, lists of ints stay
    (``lr_steps``), anything else (text where a number belongs) is dropped."""
    if not isinstance(record, dict):
        return None
    step = record.get('iter', record.get('step'))
    if type(step) is not int or step < 0:
        return None
    clean: Dict[str, Any] = {}
    for key, value in record.items():
        if not isinstance(key, str) or len(key) > 64:
            continue
        if value is None or _number(value):
            clean[key] = value
        elif isinstance(value, list) and all(type(v) is int for v in value):
            clean[key] = value
    if 'images_seen' in clean and type(clean['images_seen']) is not int:
        del clean['images_seen']
    return clean


def _count(value) -> bool:
    return type(value) is int and value >= 0


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
    for key in ('max_iters', 'batch_size', 'world_size', 'warmup_iters'):
        if _count(raw.get(key)):
            info[key] = raw[key]
    steps = raw.get('lr_steps')
    if isinstance(steps, list) and all(_count(s) for s in steps):
        info['lr_steps'] = steps
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
