"""Nested, deterministic random subsets of a COCO-format annotation file.

The paper's small-data study ("training with less data") trains on
random 35k, 10k, 3.5k and 1k image subsets of COCO train2017. To ask the same
question of another dataset the subsets must be:

* deterministic: a function of the annotation file, the size and the seed;
* nested: for one seed the 1k subset lies inside the 3.5k one, which lies
  inside the 10k one, and so on, so that a curve of AP against training-set
  size measures the effect of *adding* data, not of drawing a new sample;
* covering: every category with at least one annotated image appears in the
  subset whenever the subset is large enough to hold one image per category.

All three follow from one ordering of the image ids (:func:`subset_order`):
a seeded permutation, in front of which one image per category is placed,
rarest category first. Every subset is a prefix of that order, so subsets
of the same seed are nested by construction; the front images make every
prefix of at least that length cover all categories.

A subset keeps the source file's ``info``, ``licenses`` and full
``categories`` list (class ids must not change between subsets: configs and
checkpoints index classes by them), the selected images, and only the
annotations of those images; annotations pointing at images that are not in
the file at all ("orphans") are dropped too.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from .coco_json import read_coco_json

__all__ = [
    'subset_order', 'make_subset', 'subset_stats', 'format_stats',
    'load_annotations', 'write_annotations', 'size_tag', 'parse_size'
]


def size_tag(num_images: int) -> str:
    """Short label of a subset size: 1000 -> '1k', 3500 -> '3.5k', 16 -> '16'.

    The paper names its regimes this way; configs and file names use the tag.
    """
    if num_images >= 1000 and num_images % 100 == 0:
        value = num_images / 1000
        return f'{value:g}k'
    return str(num_images)


def parse_size(text: str) -> int:
    """Inverse of :func:`size_tag`, also accepting plain integers ('3.5k')."""
    text = str(text).strip().lower()
    if text.endswith('k'):
        value = float(text[:-1]) * 1000
        if value != int(value):
            raise ValueError(f'{text!r} is not a whole number of images')
        return int(value)
    return int(text)


def load_annotations(path: str) -> dict:
    """A COCO annotation file, checked (:func:`~.coco_json.read_coco_json`)."""
    return read_coco_json(path)


def write_annotations(path: str, coco: dict) -> None:
    """Write JSON atomically, so a killed job never leaves a torn subset."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.subset-', suffix='.json', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(coco, f, separators=(',', ':'))
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def _images_by_category(coco: dict, image_ids: Iterable[int]) -> Dict[int, List[int]]:
    """Category id -> sorted ids of the candidate images with a (non-crowd)
    instance of it. Crowd regions are ignored in training, so an image whose
    only instance of a class is a crowd does not "contain" that class."""
    candidates = set(image_ids)
    by_cat: Dict[int, set] = defaultdict(set)
    for ann in coco['annotations']:
        if ann.get('iscrowd', 0) or ann.get('image_id') not in candidates:
            continue
        by_cat[ann['category_id']].add(ann['image_id'])
    return {cat: sorted(ids) for cat, ids in by_cat.items()}


def subset_order(coco: dict, seed: int = 0, keep_empty: bool = False) -> List[int]:
    """The order whose prefixes are the subsets (see the module docstring).

    Args:
        coco: a loaded COCO annotation dict.
        seed: seed of the permutation; same seed, same order, on any machine
            (numpy's PCG64 ``default_rng`` is stable across platforms).
        keep_empty: also order images without any non-crowd annotation.
            Off by default: MMDetection's ``filter_empty_gt`` drops them in
            training, so a "1k" subset holding them would train on fewer
            than 1k images.

    Returns:
        Image ids: first one image per category (rarest category first, the
        image that comes first in the permutation among those containing
        it, skipped when an earlier front image already contains the
        category), then the rest of the permutation.
    """
    image_ids = sorted({int(img['id']) for img in coco['images']})
    if not keep_empty:
        annotated = {ann['image_id'] for ann in coco['annotations']
                     if not ann.get('iscrowd', 0)}
        image_ids = [i for i in image_ids if i in annotated]
    # Sort first, then permute: the order does not depend on the file's order.
    perm = [image_ids[i] for i in np.random.default_rng(seed).permutation(len(image_ids))]
    rank = {image_id: r for r, image_id in enumerate(perm)}

    by_cat = _images_by_category(coco, image_ids)
    cats_of_image: Dict[int, set] = defaultdict(set)
    for cat, ids in by_cat.items():
        for image_id in ids:
            cats_of_image[image_id].add(cat)
    # Rarest first: a rare category has few images to choose from, a common
    # one is almost surely covered by the images already placed.
    categories = sorted(by_cat, key=lambda c: (len(by_cat[c]), c))
    front: List[int] = []
    covered: set = set()
    for cat in categories:
        if cat in covered:
            continue
        pick = min(by_cat[cat], key=rank.__getitem__)
        front.append(pick)
        covered |= cats_of_image[pick]
    in_front = set(front)
    return front + [i for i in perm if i not in in_front]


def make_subset(coco: dict, num_images: int, seed: int = 0, keep_empty: bool = False,
                order: Optional[Sequence[int]] = None, source: Optional[str] = None) -> dict:
    """A COCO dict of the first ``num_images`` images of :func:`subset_order`.

    Args:
        coco: the full annotation dict (not modified).
        num_images: subset size; must not exceed the number of candidates.
        seed, keep_empty: as in :func:`subset_order`.
        order: a precomputed :func:`subset_order` (several sizes, one order).
        source: recorded in ``info.mmscratch_subset`` (where it came from).
    """
    if order is None:
        order = subset_order(coco, seed=seed, keep_empty=keep_empty)
    if num_images <= 0:
        raise ValueError(f'num_images must be > 0, got {num_images}')
    if num_images > len(order):
        kind = 'images' if keep_empty else 'annotated images'
        raise ValueError(f'asked for {num_images} images, the file has {len(order)} {kind}')
    chosen = set(order[:num_images])
    images = [img for img in coco['images'] if int(img['id']) in chosen]
    annotations = [ann for ann in coco['annotations'] if ann.get('image_id') in chosen]
    info = dict(coco.get('info') or {})
    info['mmscratch_subset'] = dict(
        source=osp.basename(source) if source else None, num_images=int(num_images),
        seed=int(seed), keep_empty=bool(keep_empty),
        rule='prefix of a seeded permutation, one image per category (rarest first) in front')
    out = {k: v for k, v in coco.items()
           if k not in ('images', 'annotations', 'categories', 'info')}
    out.update(info=info, images=images, annotations=annotations,
               categories=list(coco['categories']))
    return out


def subset_stats(coco: dict) -> List[dict]:
    """Per category: name, images containing it and instances (crowd excluded)."""
    images: Dict[int, set] = defaultdict(set)
    instances: Dict[int, int] = defaultdict(int)
    for ann in coco['annotations']:
        if ann.get('iscrowd', 0):
            continue
        images[ann['category_id']].add(ann['image_id'])
        instances[ann['category_id']] += 1
    return [dict(id=cat['id'], name=cat.get('name', str(cat['id'])),
                 images=len(images[cat['id']]), instances=instances[cat['id']])
            for cat in coco['categories']]


def format_stats(coco: dict) -> str:
    """The per-category table :func:`make_subset`'s CLI prints (Markdown)."""
    rows = subset_stats(coco)
    width = max([len('category')] + [len(r['name']) for r in rows])
    lines = [f'| {"category":<{width}} | images | instances |',
             f'|{"-" * (width + 2)}|-------:|----------:|']
    for r in rows:
        lines.append(f'| {r["name"]:<{width}} | {r["images"]:>6} | {r["instances"]:>9} |')
    missing = [r['name'] for r in rows if r['instances'] == 0]
    total_instances = sum(r['instances'] for r in rows)
    lines.append(f'{len(coco["images"])} images, {total_instances} instances, '
                 f'{len(rows) - len(missing)}/{len(rows)} categories present'
                 + (f' (missing: {", ".join(missing)})' if missing else ''))
    return '\n'.join(lines)
