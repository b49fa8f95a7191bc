"""Deterministic generator of a small synthetic instance-segmentation dataset.

Every image shows 1..N coloured shapes (see :data:`SHAPE_CLASSES`) on a
textured background. Shapes overlap, later shapes hiding earlier ones, and
each annotation describes only the *visible* part of its shape, written as
COCO polygons that rasterise back (with ``pycocotools``) to exactly the
visible pixels. The dataset is small and fast to make (hundreds of 128 px
images in seconds), which makes it suitable for training detectors from
scratch on a CPU and for tests.

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

Visibility rule: a shape keeps at least ``MIN_VISIBLE_FRACTION`` of its area
and ``MIN_VISIBLE_AREA`` pixels visible, its visible part has no holes and no
fragment smaller than ``MIN_FRAGMENT_AREA`` pixels. The rule is enforced when
shapes are placed (a candidate shape that would break it for an earlier
shape is rejected and redrawn), rather than by dropping annotations after
drawing, so that no drawn shape is ever left unannotated. Holes are excluded
because COCO polygons cannot represent them.
"""
import json
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ..utils.atomic_io import atomic_write_text
from ..utils.progress import track

__all__ = [
    'SHAPE_CLASSES', 'SPLITS', 'ShapeInstance', 'generate_shapes_dataset',
    'dataset_is_complete', 'read_dataset_params', 'render_sample',
    'make_image_rng', 'mask_to_polygons', 'validate_generation_args'
]

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'star', 'hexagon')
SPLITS = ('train', 'val')

#: Version of the generation algorithm, stored in the JSON ``info``. Bump it
#: whenever a change alters the generated images or annotations.
DATASET_VERSION = '1.1'

# Visibility rule (see module docstring).
MIN_VISIBLE_FRACTION = 0.4
MIN_VISIBLE_AREA = 30
MIN_FRAGMENT_AREA = 12

# Shape size: circumradius as a fraction of the image side, i.e. a shape's
# extent spans ~20% to ~60% of the image side (at 128 px: ~26 to ~77 px). With
# 10%-50% most objects were COCO-small and the CPU demo's detector, after 1000
# iterations, still confused the classes of 13-20 px shapes.
MIN_RADIUS_FRACTION = 0.10
MAX_RADIUS_FRACTION = 0.30
# Floor on the circumradius so tiny images still get drawable shapes.
MIN_RADIUS_PX = 4.0
STAR_INNER_RADIUS_RATIO = 0.45
CIRCLE_VERTICES = 48

# Minimum Euclidean distance (0..255 per channel) between a shape's colour
# and the mean colour of what it is painted over.
MIN_COLOUR_DISTANCE = 100.0
COLOUR_DRAWS = 16

# Placement retries: after ``SHRINK_AFTER_FAILURES`` rejected candidates in
# a row only the smaller half of the size range is drawn; after
# ``MAX_PLACEMENT_FAILURES`` the image keeps the shapes it has.
SHRINK_AFTER_FAILURES = 20
MAX_PLACEMENT_FAILURES = 60

MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 2048
MAX_INSTANCES_LIMIT = 16
# File names are six-digit indices.
MAX_IMAGES_PER_SPLIT = 1_000_000

# Distinct integers mixed into the per-image seed so splits never share
# random streams.
_SPLIT_SEED_KEYS = {'train': 0, 'val': 1}
_IMAGE_FILE_PATTERN = re.compile(r'^(\d{6})\.png$')
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
# Fixed-point precision of cv2.fillPoly vertices (1/16 px).
_FILL_SHIFT = 4


@dataclass
class ShapeInstance:
    """One drawn shape of a rendered image.

    Attributes:
        category_id: 1-based index into :data:`SHAPE_CLASSES`.
        full_mask: ``(H, W)`` bool mask of the whole shape.
        visible_mask: ``(H, W)`` bool mask of the part not covered by shapes
            drawn after it.
    """
    category_id: int
    full_mask: np.ndarray
    visible_mask: np.ndarray

    @property
    def full_area(self) -> int:
        """Pixel count of the whole shape."""
        return int(self.full_mask.sum())


def make_image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Return the random generator that renders image ``index`` of ``split``.

    Seeding from ``(seed, split, index)`` makes every image independent of
    the others (so the split sizes do not change the images) and keeps the
    train and val streams disjoint.
    """
    if split not in _SPLIT_SEED_KEYS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    return np.random.default_rng([seed, _SPLIT_SEED_KEYS[split], index])


def _shape_outline(category_id: int, inner_ratio: float) -> np.ndarray:
    """Vertices ``(N, 2)`` of a shape with unit circumradius, unrotated."""
    name = SHAPE_CLASSES[category_id - 1]
    if name == 'circle':
        angles = np.linspace(0, 2 * np.pi, CIRCLE_VERTICES, endpoint=False)
        radii = np.ones_like(angles)
    elif name == 'square':
        angles = np.pi / 4 + np.arange(4) * np.pi / 2
        radii = np.ones_like(angles)
    elif name == 'triangle':
        angles = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        radii = np.ones_like(angles)
    elif name == 'star':
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, inner_ratio)
    elif name == 'hexagon':
        angles = np.arange(6) * np.pi / 3
        radii = np.ones_like(angles)
    else:
        raise AssertionError(f'no outline for shape class {name!r}')
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _rasterise_polygon(vertices: np.ndarray, image_size: int) -> np.ndarray:
    """Fill a polygon (pixel-centre coordinates) into a bool mask.

    ``LINE_8`` (no anti-aliasing) makes the mask exactly the painted pixels.
    """
    mask = np.zeros((image_size, image_size), dtype=np.uint8)
    fixed_point = np.round(vertices * (1 << _FILL_SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [fixed_point], 1, lineType=cv2.LINE_8,
                 shift=_FILL_SHIFT)
    return mask.astype(bool)


def _render_background(rng: np.random.Generator,
                       image_size: int) -> np.ndarray:
    """Return a float32 ``(S, S, 3)`` textured background in 0..255 units.

    Always a colour gradient; randomly adds low-frequency colour blobs and a
    stripe or checker pattern, so that the background is never flat and
    colour alone does not separate shapes from it.
    """
    coords = np.arange(image_size, dtype=np.float32)
    xs, ys = np.meshgrid(coords, coords)

    start_colour, end_colour = rng.uniform(0, 255, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    ramp = xs * np.cos(angle) + ys * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    background = (start_colour.astype(np.float32) +
                  (end_colour - start_colour).astype(np.float32) *
                  ramp[..., None])

    if rng.random() < 0.7:
        grid = int(rng.integers(2, 7))
        coarse = rng.normal(0.0, 1.0, size=(grid, grid, 3)).astype(np.float32)
        blobs = cv2.resize(coarse, (image_size, image_size),
                           interpolation=cv2.INTER_CUBIC)
        background += blobs * np.float32(rng.uniform(15, 45))

    if rng.random() < 0.5:
        period = rng.uniform(0.05, 0.2) * image_size
        angle = rng.uniform(0, np.pi)
        along = xs * np.cos(angle) + ys * np.sin(angle)
        pattern = np.sign(np.sin(2 * np.pi * along / period))
        if rng.random() < 0.5:
            across = -xs * np.sin(angle) + ys * np.cos(angle)
            pattern = pattern * np.sign(np.sin(2 * np.pi * across / period))
        amplitude = rng.uniform(8, 35, size=3).astype(np.float32)
        background += pattern[..., None].astype(np.float32) * amplitude
    return background


def _pick_colour(rng: np.random.Generator,
                 underlying_mean: np.ndarray) -> np.ndarray:
    """Draw a colour at least ``MIN_COLOUR_DISTANCE`` from ``underlying_mean``.

    Falls back to the farthest of ``COLOUR_DRAWS`` draws; with the threshold
    used here that fallback is rare.
    """
    best_colour, best_distance = None, -1.0
    for _ in range(COLOUR_DRAWS):
        colour = rng.uniform(0, 255, size=3)
        distance = float(np.linalg.norm(colour - underlying_mean))
        if distance >= MIN_COLOUR_DISTANCE:
            return colour
        if distance > best_distance:
            best_colour, best_distance = colour, distance
    return best_colour


def _has_hole_or_small_fragment(mask: np.ndarray) -> bool:
    """Whether ``mask`` has a hole or a connected piece < MIN_FRAGMENT_AREA.

    Foreground is 8-connected and holes 4-connected, matching how
    ``cv2.findContours`` traces the outer contours used for the polygons.
    """
    mask_u8 = mask.astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask_u8,
                                                      connectivity=8)
    if (stats[1:, cv2.CC_STAT_AREA] < MIN_FRAGMENT_AREA).any():
        return True
    outside = cv2.copyMakeBorder(1 - mask_u8, 1, 1, 1, 1,
                                 cv2.BORDER_CONSTANT, value=1)
    num_background_labels, _ = cv2.connectedComponents(outside,
                                                        connectivity=4)
    # Label 0 is the mask itself; one more label is the outside region.
    return num_background_labels > 2


def _visible_masks_after(candidate: np.ndarray,
                         placed: List[ShapeInstance]
                         ) -> Optional[List[np.ndarray]]:
    """Visible masks of ``placed`` once ``candidate`` is drawn on top.

    Returns ``None`` when the candidate would break the visibility rule for
    any of them.
    """
    updated = []
    for instance in placed:
        if not (instance.visible_mask & candidate).any():
            updated.append(instance.visible_mask)
            continue
        remaining = instance.visible_mask & ~candidate
        area = int(remaining.sum())
        if (area < MIN_VISIBLE_AREA
                or area < MIN_VISIBLE_FRACTION * instance.full_area
                or _has_hole_or_small_fragment(remaining)):
            return None
        updated.append(remaining)
    return updated


def _paint_shape(canvas: np.ndarray, mask: np.ndarray,
                 rng: np.random.Generator) -> None:
    """Paint a contrasting, lightly shaded colour into ``canvas[mask]``."""
    colour = _pick_colour(rng, canvas[mask].mean(axis=0))
    ys, xs = np.nonzero(mask)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = xs * np.cos(angle) + ys * np.sin(angle)
    ramp = (ramp - ramp.mean()) / max(float(np.ptp(ramp)), 1.0)
    shading = rng.uniform(0, 30) * ramp
    canvas[ys, xs] = (colour[None, :] + shading[:, None]).astype(np.float32)


def render_sample(rng: np.random.Generator,
                  image_size: int = 128,
                  min_instances: int = 1,
                  max_instances: int = 6
                  ) -> Tuple[np.ndarray, List[ShapeInstance]]:
    """Render one image and its shapes.

    Args:
        rng: Source of randomness; :func:`make_image_rng` gives the one the
            dataset uses for a given image.
        image_size: Side of the square image in pixels.
        min_instances: Fewest shapes to place.
        max_instances: Most shapes to place (an image may hold fewer than the
            drawn target when no further shape fits the visibility rule).

    Returns:
        ``(image, instances)``: a ``(S, S, 3)`` uint8 BGR image and the shapes
        in drawing order (later ones are on top).

    Raises:
        RuntimeError: If fewer than ``min_instances`` shapes could be placed.
    """
    canvas = _render_background(rng, image_size)
    target = int(rng.integers(min_instances, max_instances + 1))
    min_radius = max(MIN_RADIUS_FRACTION * image_size, MIN_RADIUS_PX)
    max_radius = max(MAX_RADIUS_FRACTION * image_size, min_radius)

    placed: List[ShapeInstance] = []
    failures = 0
    while len(placed) < target:
        upper = max_radius
        if failures >= SHRINK_AFTER_FAILURES:
            upper = (min_radius + max_radius) / 2
        category_id = int(rng.integers(1, len(SHAPE_CLASSES) + 1))
        radius = rng.uniform(min_radius, upper)
        rotation = rng.uniform(0, 2 * np.pi)
        centre = rng.uniform(radius, image_size - 1 - radius, size=2)
        rotation_matrix = np.array([[np.cos(rotation), -np.sin(rotation)],
                                    [np.sin(rotation), np.cos(rotation)]])
        outline = _shape_outline(category_id, STAR_INNER_RADIUS_RATIO)
        vertices = centre + radius * outline @ rotation_matrix.T
        candidate = _rasterise_polygon(vertices, image_size)

        updated = None
        if candidate.sum() >= MIN_VISIBLE_AREA:
            updated = _visible_masks_after(candidate, placed)
        if updated is None:
            failures += 1
            if failures < MAX_PLACEMENT_FAILURES:
                continue
            if len(placed) >= min_instances:
                break
            raise RuntimeError(
                f'could not place {min_instances} shapes in a '
                f'{image_size}px image; lower min_instances or raise '
                'image_size')
        failures = 0
        for instance, visible in zip(placed, updated):
            instance.visible_mask = visible
        _paint_shape(canvas, candidate, rng)
        placed.append(ShapeInstance(category_id, candidate, candidate.copy()))

    noise_sigma = rng.uniform(2, 8)
    canvas += rng.normal(0.0, noise_sigma, size=canvas.shape).astype(
        np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, placed


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
