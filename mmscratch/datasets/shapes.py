"""Deterministic generator of a small synthetic instance-segmentation dataset.

Every image shows 1..N coloured shapes on a textured background, rendered by
:mod:`.shapes_render`; each annotation describes only the *visible* part of
its shape, written as COCO polygons that rasterise back (with
``pycocotools``) to exactly the visible pixels. The dataset is small and
fast to make (hundreds of 128 px images in seconds), which makes it suitable
for training detectors from scratch on a CPU and for tests.

Output layout of :func:`generate_shapes_dataset`::

    out_dir/
        train/000000.png ...
        val/000000.png ...
        annotations/instances_train.json
        annotations/instances_val.json

Determinism: an image is a pure function of ``(seed, split, index)`` and the
generation arguments; PNGs and JSON are written with fixed settings and no
timestamps, so the same arguments give byte-identical files. Train and val
draw from different random streams, so they never share images.
"""
import json
import numbers
import re
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from ..utils.atomic_io import atomic_write_text
from ..utils.progress import track
from .shapes_render import SHAPE_CLASSES, SPLITS, ShapeInstance, make_image_rng, render_sample

__all__ = [
    'generate_shapes_dataset', 'dataset_is_complete', 'read_dataset_params',
    'mask_to_polygons', 'validate_generation_args'
]

#: Version of the generation algorithm, stored in the JSON ``info``. Bump it
#: whenever a change alters the generated images or annotations.
DATASET_VERSION = '1.1'

MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 2048
MAX_INSTANCES_LIMIT = 16
# File names are six-digit indices.
MAX_IMAGES_PER_SPLIT = 1_000_000

_IMAGE_FILE_PATTERN = re.compile(r'^(\d{6})\.png$')
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]


def mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    """Outer boundary polygons of a hole-free mask, in COCO format.

    The polygons follow pixel edges (coordinate ``x`` is the left edge of
    pixel column ``x``), so ``pycocotools`` rasterises them back to exactly
    ``mask``. They are traced by ``cv2.findContours`` on the mask upsampled
    2x, whose contour points sit on half-pixel positions; ``ceil(u / 2)``
    maps them onto the corners of the original pixels.
    """
    upsampled = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2,
                           interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(upsampled, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        corners = (contour.reshape(-1, 2) + 1) // 2
        # Adjacent upsampled points can map onto the same pixel corner.
        distinct = np.any(corners != np.roll(corners, 1, axis=0), axis=1)
        corners = corners[distinct]
        if len(corners) < 3:
            continue
        polygons.append([round(float(v), 2) for v in corners.ravel()])
    return polygons


def _instance_annotation(instance: ShapeInstance, annotation_id: int,
                         image_id: int) -> Optional[dict]:
    """COCO annotation of an instance's visible part (``None`` if empty)."""
    polygons = mask_to_polygons(instance.visible_mask)
    if not polygons:
        return None
    rows = np.flatnonzero(instance.visible_mask.any(axis=1))
    cols = np.flatnonzero(instance.visible_mask.any(axis=0))
    bbox = [
        float(cols[0]),
        float(rows[0]),
        float(cols[-1] - cols[0] + 1),
        float(rows[-1] - rows[0] + 1)
    ]
    return {
        'id': annotation_id,
        'image_id': image_id,
        'category_id': instance.category_id,
        'segmentation': polygons,
        'area': float(instance.visible_mask.sum()),
        'bbox': bbox,
        'iscrowd': 0,
    }


def _generation_params(num_train: int, num_val: int, image_size: int,
                       seed: int, min_instances: int,
                       max_instances: int) -> dict:
    """The arguments that determine a dataset, as stored in its JSON."""
    return {
        'num_train': int(num_train),
        'num_val': int(num_val),
        'image_size': int(image_size),
        'seed': int(seed),
        'min_instances': int(min_instances),
        'max_instances': int(max_instances),
    }


def _categories() -> List[dict]:
    return [{
        'id': index + 1,
        'name': name,
        'supercategory': 'shape'
    } for index, name in enumerate(SHAPE_CLASSES)]


def _remove_stale_images(split_dir: Path, num_images: int) -> None:
    """Delete generator-named images beyond ``num_images`` left by an earlier
    larger run, so the folder holds exactly the listed images."""
    for path in split_dir.iterdir():
        match = _IMAGE_FILE_PATTERN.match(path.name)
        if match and int(match.group(1)) >= num_images and path.is_file():
            path.unlink()


def _write_split_images(out_dir: Path, split: str, num_images: int,
                        params: dict, progress: bool = False) -> dict:
    """Render and write the images of ``split``; return its COCO dict.

    The annotation JSON itself is not written here: the caller writes all
    JSON files after all images so that a present JSON implies its images
    are complete.
    """
    split_dir = out_dir / split
    split_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_images(split_dir, num_images)
    image_size = params['image_size']

    images, annotations = [], []
    for index in track(range(num_images), enabled=progress,
                       title=f'rendering {num_images} {split} images'):
        rng = make_image_rng(params['seed'], split, index)
        image, instances = render_sample(rng, image_size,
                                         params['min_instances'],
                                         params['max_instances'])
        file_name = f'{index:06d}.png'
        if not cv2.imwrite(str(split_dir / file_name), image, _PNG_PARAMS):
            raise OSError(f'failed to write {split_dir / file_name}')
        image_id = index + 1
        images.append({
            'id': image_id,
            'file_name': file_name,
            'width': image_size,
            'height': image_size
        })
        for instance in instances:
            annotation = _instance_annotation(instance,
                                              len(annotations) + 1, image_id)
            if annotation is not None:
                annotations.append(annotation)

    return {
        'info': {
            'description': f'mmscratch synthetic shapes, {split} split',
            'version': DATASET_VERSION,
            'year': 2024,
            'contributor': 'mmscratch',
            'url': '',
            'mmscratch_params': params,
        },
        'licenses': [{
            'id': 1,
            'name': 'CC0 1.0',
            'url': 'https://creativecommons.org/publicdomain/zero/1.0/'
        }],
        'categories': _categories(),
        'images': images,
        'annotations': annotations,
    }


def _write_json_atomically(path: Path, payload: dict) -> None:
    """Write JSON with fixed formatting atomically (an exclusive temporary under an
    unpredictable name, fsync, ``os.replace``: never through a planted link)."""
    atomic_write_text(str(path), json.dumps(payload, sort_keys=True, separators=(',', ':')))


def _annotation_path(out_dir: Path, split: str) -> Path:
    return out_dir / 'annotations' / f'instances_{split}.json'


def _check_int(name: str, value, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if not minimum <= value <= maximum:
        raise ValueError(
            f'{name} must be in [{minimum}, {maximum}], got {value}')


def validate_generation_args(num_train: int, num_val: int, image_size: int,
                             seed: int, min_instances: int,
                             max_instances: int) -> None:
    """Raise ``ValueError`` naming the first invalid generation argument."""
    _check_int('num_train', num_train, 1, MAX_IMAGES_PER_SPLIT)
    _check_int('num_val', num_val, 1, MAX_IMAGES_PER_SPLIT)
    _check_int('image_size', image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
    _check_int('seed', seed, 0, 2**63 - 1)
    _check_int('min_instances', min_instances, 1, MAX_INSTANCES_LIMIT)
    _check_int('max_instances', max_instances, 1, MAX_INSTANCES_LIMIT)
    if max_instances < min_instances:
        raise ValueError(f'max_instances ({max_instances}) must be >= '
                         f'min_instances ({min_instances})')


def generate_shapes_dataset(out_dir,
                            num_train: int = 600,
                            num_val: int = 100,
                            image_size: int = 128,
                            seed: int = 0,
                            min_instances: int = 1,
                            max_instances: int = 6,
                            progress: bool = False) -> dict:
    """Generate the shapes dataset under ``out_dir`` (see module docstring).

    Any annotation JSON already in ``out_dir`` is deleted first and the new
    ones are written last, so an interrupted run leaves a dataset that
    :func:`dataset_is_complete` reports as incomplete.

    Args:
        out_dir: Output folder (created if missing).
        num_train: Number of training images (>= 1).
        num_val: Number of validation images (>= 1).
        image_size: Side of the square images in pixels (>= 32).
        seed: Non-negative seed; the same seed and arguments give
            byte-identical files.
        min_instances: Fewest shapes per image (>= 1).
        max_instances: Most shapes per image (>= min_instances).
        progress: draw a progress bar per split (tools: when on a terminal).

    Returns:
        Summary dict: ``out_dir``, ``classes``, ``params`` and ``splits``,
        which maps each split name to its ``img_dir``, ``ann_file``,
        ``num_images``, ``num_instances`` and ``instances_per_class``.

    Raises:
        ValueError: If an argument is invalid.
    """
    validate_generation_args(num_train, num_val, image_size, seed,
                             min_instances, max_instances)
    params = _generation_params(num_train, num_val, image_size, seed,
                                min_instances, max_instances)
    out_dir = Path(out_dir)
    (out_dir / 'annotations').mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        _annotation_path(out_dir, split).unlink(missing_ok=True)

    split_sizes = {'train': num_train, 'val': num_val}
    coco_by_split = {
        split: _write_split_images(out_dir, split, split_sizes[split], params, progress)
        for split in SPLITS
    }
    for split, coco in coco_by_split.items():
        _write_json_atomically(_annotation_path(out_dir, split), coco)

    splits_summary = {}
    for split, coco in coco_by_split.items():
        per_class = {name: 0 for name in SHAPE_CLASSES}
        for annotation in coco['annotations']:
            per_class[SHAPE_CLASSES[annotation['category_id'] - 1]] += 1
        splits_summary[split] = {
            'img_dir': str(out_dir / split),
            'ann_file': str(_annotation_path(out_dir, split)),
            'num_images': len(coco['images']),
            'num_instances': len(coco['annotations']),
            'instances_per_class': per_class,
        }
    return {
        'out_dir': str(out_dir),
        'classes': SHAPE_CLASSES,
        'params': params,
        'splits': splits_summary,
    }


def _load_annotation_file(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def dataset_is_complete(out_dir) -> bool:
    """Whether both annotation JSONs parse and every image they list exists.

    Images are checked for existence only (not decoded), which is enough to
    detect an interrupted generation because the JSONs are written last.
    """
    out_dir = Path(out_dir)
    for split in SPLITS:
        coco = _load_annotation_file(_annotation_path(out_dir, split))
        if not isinstance(coco, dict) or not coco.get('images'):
            return False
        for image in coco['images']:
            file_name = image.get('file_name') if isinstance(image,
                                                             dict) else None
            if not file_name or not (out_dir / split / file_name).is_file():
                return False
    return True


def read_dataset_params(out_dir) -> Optional[dict]:
    """The generation arguments stored in ``out_dir``'s train JSON, if any."""
    coco = _load_annotation_file(_annotation_path(Path(out_dir), 'train'))
    if not isinstance(coco, dict):
        return None
    return coco.get('info', {}).get('mmscratch_params')
