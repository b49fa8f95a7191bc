"""A generated image-classification set: the mini paper's stand-in for ImageNet.

The paper pre-trains on ImageNet (1.28M images, 1000 classes, ~1 object per
image) and fine-tunes on COCO. The mini paper (``tools/mini_paper.py``) asks
the same question at demo scale, so it needs a classification set that is

* **not the detection task**: none of the shapes set's five classes
  (circle, square, triangle, star, hexagon); other object families, fill
  textures, backgrounds and compositions, so that what transfers is generic
  features (edges, contrast, parts, textures), as from ImageNet to COCO;
* **many classes**: a class is an object *family* x a *fill texture*
  (:data:`FAMILIES` x :data:`FILLS` = 100 classes), so the classifier must
  learn shape and texture, not colour (colours are random per image);
* **large and deterministic**: an image is a pure function of
  ``(seed, split, index)`` and the arguments (its own random streams, never
  the shapes set's), PNGs and JSON are written with fixed settings, so the
  same arguments give byte-identical files, and any number of images can be
  made without downloads.

Composition of an image: a textured background (smooth colour noise plus
thin random strokes), 0-3 small distractor blobs of no class, then the
labelled object (or, in a quarter of the images, two smaller copies of it),
large and roughly centred as in ImageNet photos, rotated, scaled, filled
with its texture in two random colours, then pixel noise.

Output layout of :func:`generate_pretrain_dataset` (MMEngine's
``BaseDataset`` annotation format: ``metainfo`` + ``data_list``)::

    out_dir/
        train/000000.png ...
        val/000000.png ...
        meta/train.json   {"metainfo": {"classes": [...], ...},
        meta/val.json      "data_list": [{"img_path": "000000.png", "gt_label": 17}, ...]}

The JSON files are written last (atomically), so an interrupted generation
leaves a set that :func:`pretrain_set_is_complete` reports as incomplete.
"""
from __future__ import annotations

import json
import numbers
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..utils.atomic_io import atomic_write_text
from ..utils.progress import track

__all__ = [
    'FAMILIES', 'FILLS', 'PRETRAIN_CLASSES', 'PRETRAIN_SPLITS', 'generate_pretrain_dataset',
    'pretrain_set_is_complete', 'read_pretrain_params', 'render_pretrain_sample',
    'make_pretrain_rng', 'validate_pretrain_args', 'annotation_path', 'class_index'
]

#: Object families; none is one of the detection set's shapes.
FAMILIES = ('ring', 'cross', 'crescent', 'heart', 'arrow', 'ell', 'tee', 'ellipse', 'bolt',
            'chevron')
#: Fill textures of the object.
FILLS = ('solid', 'stripes', 'checker', 'dots', 'gradient', 'grid', 'blotches', 'rings',
         'zigzag', 'outline')
#: Class names, ``<family>_<fill>``; the label of a class is its index here.
PRETRAIN_CLASSES = tuple(f'{family}_{fill}' for family in FAMILIES for fill in FILLS)
PRETRAIN_SPLITS = ('train', 'val')

#: Version of the generation algorithm, stored in the JSON metainfo.
PRETRAIN_SET_VERSION = '1.0'
#: Half the demo's 128 px: objects then span the pixels the detection set's
#: objects span (docs/mini_paper.md), at a quarter of the cost per image.
DEFAULT_IMAGE_SIZE = 64
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024
MAX_IMAGES_PER_SPLIT = 1_000_000

# Object size: "radius" (half the extent) as a fraction of the image side.
# ImageNet objects fill much of the frame; so do these (extent 50-85% of the side).
MIN_RADIUS_FRACTION = 0.25
MAX_RADIUS_FRACTION = 0.42
PAIR_PROBABILITY = 0.25
MAX_DISTRACTORS = 3
MIN_COLOUR_DISTANCE = 90.0

# Random streams disjoint from the shapes set's (which uses keys 0 and 1).
_SPLIT_SEED_KEYS = {'train': 1000, 'val': 1001}
_IMAGE_FILE = re.compile(r'^\d{6}\.png$')
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
_FILL_SHIFT = 4


def class_index(family: str, fill: str) -> int:
    """Label of ``<family>_<fill>``."""
    return FAMILIES.index(family) * len(FILLS) + FILLS.index(fill)


def make_pretrain_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator that renders image ``index`` of ``split``."""
    if split not in _SPLIT_SEED_KEYS:
        raise ValueError(f'split must be one of {PRETRAIN_SPLITS}, got {split!r}')
    return np.random.default_rng([seed, _SPLIT_SEED_KEYS[split], index])


# ------------------------------------------------------------------ geometry
def _polygon(points) -> np.ndarray:
    return np.asarray(points, dtype=np.float64)


def _family_parts(family: str, rng: np.random.Generator) -> List[Tuple[str, np.ndarray]]:
    """The family's outline in unit coordinates (extent about [-1, 1]):
    ``('fill', polygon)`` parts are painted, ``('cut', polygon)`` parts are
    removed again (rings, crescents)."""
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    if family == 'ring':
        inner = rng.uniform(0.45, 0.65)
        return [('fill', circle), ('cut', circle * inner)]
    if family == 'cross':
        w = rng.uniform(0.25, 0.4)
        return [('fill', _polygon([[-1, -w], [1, -w], [1, w], [-1, w]])),
                ('fill', _polygon([[-w, -1], [w, -1], [w, 1], [-w, 1]]))]
    if family == 'crescent':
        shift = rng.uniform(0.35, 0.6)
        return [('fill', circle), ('cut', circle * 0.9 + [shift, 0])]
    if family == 'heart':
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y], axis=1) / 17.0
        return [('fill', pts - pts.mean(axis=0))]
    if family == 'arrow':
        w, head = rng.uniform(0.18, 0.3), rng.uniform(0.45, 0.65)
        return [('fill', _polygon([[-1, -w], [1 - head, -w], [1 - head, -0.7], [1, 0],
                                   [1 - head, 0.7], [1 - head, w], [-1, w]]))]
    if family == 'ell':
        w = rng.uniform(0.35, 0.5)
        return [('fill', _polygon([[-1, -1], [-1 + 2 * w, -1], [-1 + 2 * w, 1 - 2 * w],
                                   [1, 1 - 2 * w], [1, 1], [-1, 1]]))]
    if family == 'tee':
        w = rng.uniform(0.3, 0.45)
        return [('fill', _polygon([[-1, -1], [1, -1], [1, -1 + 2 * w], [w, -1 + 2 * w],
                                   [w, 1], [-w, 1], [-w, -1 + 2 * w], [-1, -1 + 2 * w]]))]
    if family == 'ellipse':
        return [('fill', circle * [1.0, rng.uniform(0.3, 0.5)])]
    if family == 'bolt':
        return [('fill', _polygon([[-0.2, -1], [0.55, -1], [0.15, -0.15], [0.6, -0.15],
                                   [-0.35, 1], [-0.05, 0.15], [-0.5, 0.15]]))]
    if family == 'chevron':
        w = rng.uniform(0.3, 0.45)
        return [('fill', _polygon([[-1, -1], [-1 + w, -1], [w, 0], [-1 + w, 1], [-1, 1],
                                   [0, 0]]) + [0.5 - w / 2, 0])]
    raise AssertionError(f'no outline for family {family!r}')


def _rasterise(polygon: np.ndarray, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    fixed = np.round(polygon * (1 << _FILL_SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [fixed], 1, lineType=cv2.LINE_8, shift=_FILL_SHIFT)
    return mask.astype(bool)


def _object_mask(family: str, rng: np.random.Generator, size: int, centre: np.ndarray,
                 radius: float) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mask = np.zeros((size, size), bool)
    for kind, part in _family_parts(family, rng):
        pixels = _rasterise(centre + radius * part @ rotation.T, size)
        mask = mask | pixels if kind == 'fill' else mask & ~pixels
    return mask


# ------------------------------------------------------------------ textures
def _fill_pattern(fill: str, rng: np.random.Generator, size: int, mask: np.ndarray,
                  centre: np.ndarray, radius: float) -> np.ndarray:
    """A float pattern in [0, 1] over the image: 0 = colour A, 1 = colour B."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    u = (xs - centre[0]) * np.cos(angle) + (ys - centre[1]) * np.sin(angle)
    v = -(xs - centre[0]) * np.sin(angle) + (ys - centre[1]) * np.cos(angle)
    period = max(3.0, radius * rng.uniform(0.35, 0.6))
    if fill == 'solid':
        return np.zeros((size, size), np.float32)
    if fill == 'stripes':
        return (np.sin(2 * np.pi * u / period) > 0).astype(np.float32)
    if fill == 'checker':
        return ((np.sin(2 * np.pi * u / period) > 0) ^
                (np.sin(2 * np.pi * v / period) > 0)).astype(np.float32)
    if fill == 'dots':
        du = (u / period) % 1.0 - 0.5
        dv = (v / period) % 1.0 - 0.5
        return (du * du + dv * dv < 0.09).astype(np.float32)
    if fill == 'gradient':
        return np.clip(u / (2 * radius) + 0.5, 0, 1)
    if fill == 'grid':
        line = max(1.0, period * 0.18)
        return (((u % period) < line) | ((v % period) < line)).astype(np.float32)
    if fill == 'blotches':
        grid = int(rng.integers(3, 6))
        coarse = rng.normal(size=(grid, grid)).astype(np.float32)
        return (cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC) > 0).astype(
            np.float32)
    if fill == 'rings':
        r = np.sqrt((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2)
        return (np.sin(2 * np.pi * r / period) > 0).astype(np.float32)
    if fill == 'zigzag':
        tri = np.abs((v / period) % 2.0 - 1.0) * period
        return (np.sin(2 * np.pi * (u + tri) / period) > 0).astype(np.float32)
    if fill == 'outline':
        width = max(2, int(round(radius * 0.18)))
        kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
        interior = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
        return interior.astype(np.float32)  # 1 = the background shows through
    raise AssertionError(f'no pattern for fill {fill!r}')


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour noise and thin strokes: no gradient ramps or stripe
    patterns as in the shapes set."""
    grid = int(rng.integers(2, 5))
    coarse = rng.uniform(0, 255, size=(grid, grid, 3)).astype(np.float32)
    canvas = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(0, 6))):
        p0, p1 = rng.uniform(0, size, size=(2, 2)).astype(int)
        colour = tuple(float(c) for c in rng.uniform(0, 255, size=3))
        cv2.line(canvas, tuple(int(c) for c in p0), tuple(int(c) for c in p1), colour,
                 thickness=int(rng.integers(1, 3)), lineType=cv2.LINE_8)
    return canvas


def _contrasting_colour(rng: np.random.Generator, against: np.ndarray) -> np.ndarray:
    best, best_distance = None, -1.0
    for _ in range(16):
        colour = rng.uniform(0, 255, size=3)
        distance = float(np.linalg.norm(colour - against))
        if distance >= MIN_COLOUR_DISTANCE:
            return colour
        if distance > best_distance:
            best, best_distance = colour, distance
    return best


def render_pretrain_sample(rng: np.random.Generator, label: int,
                           image_size: int = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """Render one ``(S, S, 3)`` uint8 BGR image of class ``label``
    (:data:`PRETRAIN_CLASSES`); see the module docstring for the composition."""
    if not 0 <= label < len(PRETRAIN_CLASSES):
        raise ValueError(f'label must be in [0, {len(PRETRAIN_CLASSES)}), got {label}')
    family, fill = FAMILIES[label // len(FILLS)], FILLS[label % len(FILLS)]
    size = image_size
    canvas = _background(rng, size)
    # distractors: small blobs of no class, behind the object
    for _ in range(int(rng.integers(0, MAX_DISTRACTORS + 1))):
        n = int(rng.integers(5, 9))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(0.4, 1.0, n)[:, None] * size * rng.uniform(0.04, 0.1)
        pts = rng.uniform(0, size, 2) + r * np.stack([np.cos(t), np.sin(t)], axis=1)
        blob = _rasterise(pts, size)
        if blob.any():
            canvas[blob] = rng.uniform(0, 255, size=3).astype(np.float32)
    pair = rng.random() < PAIR_PROBABILITY
    scale = 0.6 if pair else 1.0
    axis = rng.uniform(0, 2 * np.pi)  # the two copies of a pair sit on either side of it
    for k in range(2 if pair else 1):
        radius = size * scale * rng.uniform(MIN_RADIUS_FRACTION, MAX_RADIUS_FRACTION)
        if pair:
            side = axis + k * np.pi
            offset = size * 0.22 * np.array([np.cos(side), np.sin(side)])
            centre = size / 2 + offset + rng.uniform(-0.04, 0.04, 2) * size
        else:
            centre = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
        mask = _object_mask(family, rng, size, centre, radius)
        if not mask.any():
            continue
        colour_a = _contrasting_colour(rng, canvas[mask].mean(axis=0))
        colour_b = _contrasting_colour(rng, colour_a)
        pattern = _fill_pattern(fill, rng, size, mask, centre, radius)[mask][:, None]
        painted = colour_a[None, :] * (1 - pattern) + colour_b[None, :] * pattern
        if fill == 'outline':  # the interior keeps the background
            painted = canvas[mask] * pattern + colour_a[None, :] * (1 - pattern)
        canvas[mask] = painted.astype(np.float32)
    canvas += rng.normal(0.0, rng.uniform(2, 8), size=canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ writing
def _check_int(name: str, value, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if not minimum <= value <= maximum:
        raise ValueError(f'{name} must be in [{minimum}, {maximum}], got {value}')


def validate_pretrain_args(num_train: int, num_val: int, image_size: int, seed: int) -> None:
    """Raise ``ValueError`` naming the first invalid generation argument."""
    _check_int('num_train', num_train, 1, MAX_IMAGES_PER_SPLIT)
    _check_int('num_val', num_val, 1, MAX_IMAGES_PER_SPLIT)
    _check_int('image_size', image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
    _check_int('seed', seed, 0, 2**63 - 1)


def annotation_path(out_dir, split: str) -> Path:
    """``out_dir/meta/<split>.json``."""
    return Path(out_dir) / 'meta' / f'{split}.json'


def _params(num_train: int, num_val: int, image_size: int, seed: int) -> dict:
    return dict(num_train=int(num_train), num_val=int(num_val), image_size=int(image_size),
                seed=int(seed))


def _write_split(out_dir: Path, split: str, num_images: int, params: dict,
                 progress: bool) -> dict:
    split_dir = out_dir / split
    split_dir.mkdir(parents=True, exist_ok=True)
    for path in split_dir.iterdir():  # images beyond this size, from a larger earlier run
        if _IMAGE_FILE.match(path.name) and int(path.name[:6]) >= num_images and path.is_file():
            path.unlink()
    data_list = []
    for index in track(range(num_images), enabled=progress,
                       title=f'rendering {num_images} {split} images'):
        label = index % len(PRETRAIN_CLASSES)  # balanced classes
        image = render_pretrain_sample(make_pretrain_rng(params['seed'], split, index), label,
                                       params['image_size'])
        name = f'{index:06d}.png'
        if not cv2.imwrite(str(split_dir / name), image, _PNG_PARAMS):
            raise OSError(f'failed to write {split_dir / name}')
        data_list.append(dict(img_path=name, gt_label=label))
    return dict(
        metainfo=dict(classes=list(PRETRAIN_CLASSES), families=list(FAMILIES),
                      fills=list(FILLS), dataset_version=PRETRAIN_SET_VERSION,
                      split=split, mmscratch_params=params),
        data_list=data_list)


def generate_pretrain_dataset(out_dir, num_train: int = 20_000, num_val: int = 1_000,
                              image_size: int = DEFAULT_IMAGE_SIZE, seed: int = 0,
                              progress: bool = False) -> dict:
    """Generate the pre-training set under ``out_dir`` (see the module docstring).

    Returns a summary: ``out_dir``, ``classes``, ``params`` and per split its
    ``img_dir``, ``ann_file`` and ``num_images``.
    """
    validate_pretrain_args(num_train, num_val, image_size, seed)
    params = _params(num_train, num_val, image_size, seed)
    out_dir = Path(out_dir)
    (out_dir / 'meta').mkdir(parents=True, exist_ok=True)
    for split in PRETRAIN_SPLITS:
        annotation_path(out_dir, split).unlink(missing_ok=True)
    sizes = dict(train=num_train, val=num_val)
    documents = {split: _write_split(out_dir, split, sizes[split], params, progress)
                 for split in PRETRAIN_SPLITS}
    for split, document in documents.items():
        atomic_write_text(str(annotation_path(out_dir, split)),
                          json.dumps(document, sort_keys=True, separators=(',', ':')))
    return dict(out_dir=str(out_dir), classes=PRETRAIN_CLASSES, params=params,
                splits={split: dict(img_dir=str(out_dir / split),
                                    ann_file=str(annotation_path(out_dir, split)),
                                    num_images=len(documents[split]['data_list']))
                        for split in PRETRAIN_SPLITS})


def _load(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as f:
            document = json.load(f)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def pretrain_set_is_complete(out_dir) -> bool:
    """Both annotation files parse and every image they list exists."""
    out_dir = Path(out_dir)
    for split in PRETRAIN_SPLITS:
        document = _load(annotation_path(out_dir, split))
        data_list = document.get('data_list') if document else None
        if not isinstance(data_list, list) or not data_list:
            return False
        for record in data_list:
            name = record.get('img_path') if isinstance(record, dict) else None
            if not isinstance(name, str) or not _IMAGE_FILE.match(name) or \
                    not (out_dir / split / name).is_file():
                return False
    return True


def read_pretrain_params(out_dir) -> Optional[Dict]:
    """The generation arguments stored in ``out_dir``'s train annotation file."""
    document = _load(annotation_path(Path(out_dir), 'train'))
    metainfo = document.get('metainfo') if document else None
    return metainfo.get('mmscratch_params') if isinstance(metainfo, dict) else None
