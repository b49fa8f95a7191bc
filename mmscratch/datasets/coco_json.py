"""Reading a COCO-format annotation file someone hands you, with errors that say where.

One reader for the tools that take an annotation file (``make_subset.py``,
``data_budget.py --ann-file``, ``check_dataset.py``): it reports a missing
file, a truncated or invalid JSON document (with line and column), a
document that is not COCO (which key is missing or of the wrong type) and
records without the fields the tools need (which list, which record, which
field) -- one ``ValueError`` naming the file, never a ``KeyError`` later.
"""
from __future__ import annotations

import json
import os.path as osp

#: Fields each record must have, and their types.
REQUIRED = {
    'images': {'id': int, 'file_name': str},
    'annotations': {'id': int, 'image_id': int, 'category_id': int},
    'categories': {'id': int, 'name': str},
}


def read_coco_json(path: str, check_records: bool = True) -> dict:
    """The document at ``path``, checked to be COCO (see the module docstring)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f'{path}: not a text (UTF-8 JSON) file: {exc.reason} at byte '
                         f'{exc.start}') from None
    if not text.strip():
        raise ValueError(f'{path}: empty file, not a COCO annotation file')
    try:
        coco = json.loads(text)
    except json.JSONDecodeError as exc:
        # an error at the very end, or a string never closed: the file was cut short
        what = 'truncated' if exc.pos >= len(text.rstrip()) - 1 or \
            exc.msg.startswith('Unterminated string') else 'invalid'
        raise ValueError(f'{path}: {what} JSON at line {exc.lineno} column {exc.colno}: '
                         f'{exc.msg}') from None
    except RecursionError:
        raise ValueError(f'{path}: JSON nested too deeply') from None
    if not isinstance(coco, dict):
        raise ValueError(f'{path}: not a COCO annotation file (the top level is a '
                         f'{type(coco).__name__}, not an object)')
    for key in REQUIRED:
        if not isinstance(coco.get(key), list):
            found = 'missing' if key not in coco else f'a {type(coco[key]).__name__}'
            raise ValueError(f'{path}: not a COCO annotation file: {key!r} is {found}, not a '
                             f'list (keys: {", ".join(sorted(map(str, coco))[:8]) or "none"})')
    if check_records:
        for key, fields in REQUIRED.items():
            for index, record in enumerate(coco[key]):
                if not isinstance(record, dict):
                    raise ValueError(f'{path}: {key}[{index}] is not an object')
                for field, kind in fields.items():
                    value = record.get(field)
                    if not isinstance(value, kind) or isinstance(value, bool):
                        got = 'missing' if field not in record else repr(value)[:40]
                        raise ValueError(f'{path}: {key}[{index}] (id {record.get("id")!r:.20}): '
                                         f'{field!r} is {got}, expected {kind.__name__}')
    return coco
