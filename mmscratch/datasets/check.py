"""Validate a COCO-format dataset before a multi-day run (``tools/check_dataset.py``).

MMDetection silently drops much of what is wrong in an annotation file
(boxes under 1 px, zero areas, polygons of fewer than 3 points) and crashes
on the rest (a missing ``area``, a corrupt image) whenever a worker happens
to draw it, possibly at hour 40. This checker reads everything once and
reports every problem with its image and annotation id.

Problems found, each with a kind (the summary table's rows) and a severity
(``error``: training would crash, or silently train on wrong data;
``warning``: legal but probably unintended), see :data:`KINDS`.

Images are decoded twice: with Pillow, which notices truncated files, and
with the decoder training uses (``mmcv.imfrombytes``, OpenCV, which applies
EXIF orientation), whose size must match the JSON ``width``/``height``.

Exit codes of ``tools/check_dataset.py``: 0 no errors (warnings allowed unless
``--strict``), 1 problems found, 2 the annotation file itself is unusable.
"""
from __future__ import annotations

import io
import math
import os.path as osp
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from numbers import Real
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..utils.progress import track
from .coco_json import read_coco_json

ERROR, WARNING = 'error', 'warning'

#: kind -> (severity, what it means)
KINDS: Dict[str, Tuple[str, str]] = {
    'json_invalid': (ERROR, 'annotation file unreadable or not COCO-shaped'),
    'image_dir_missing': (ERROR, 'the image folder does not exist'),
    'missing_field': (ERROR, 'required field missing or of the wrong type'),
    'duplicate_image_id': (ERROR, 'two images share an id'),
    'duplicate_annotation_id': (ERROR, 'two annotations share an id'),
    'duplicate_category_id': (ERROR, 'two categories share an id'),
    'duplicate_file_name': (WARNING, 'two image entries use the same file'),
    'bad_image_size': (ERROR, 'JSON width/height not positive integers'),
    'image_missing': (ERROR, 'image file does not exist'),
    'image_unreadable': (ERROR, 'image file unreadable, truncated or not an image'),
    'image_size_mismatch': (ERROR, 'decoded image size differs from JSON width/height'),
    'image_without_annotations': (WARNING, 'image has no annotation (dropped by filter_empty_gt)'),
    'unknown_image_id': (ERROR, 'annotation refers to an image id not in images'),
    'unknown_category_id': (ERROR, 'annotation refers to a category id not in categories'),
    'bbox_invalid': (ERROR, 'bbox is not 4 numbers'),
    'bbox_nonfinite': (ERROR, 'bbox has NaN/inf'),
    'bbox_empty': (ERROR, 'bbox width or height <= 0'),
    'bbox_tiny': (WARNING, 'bbox under 1 px wide or high (dropped by MMDetection)'),
    'bbox_out_of_image': (ERROR, 'bbox extends outside the image'),
    'area_invalid': (ERROR, 'area missing, NaN/inf or <= 0 (dropped by MMDetection)'),
    'iscrowd_invalid': (ERROR, 'iscrowd is not 0 or 1'),
    'segm_invalid_polygon': (ERROR, 'polygon: odd length, < 3 points, NaN/inf or zero area'),
    'segm_out_of_image': (ERROR, 'polygon point outside the image'),
    'segm_invalid_rle': (ERROR, 'RLE malformed, wrong size, or does not decode'),
    'segm_invalid': (ERROR, 'segmentation neither polygons nor RLE'),
}


@dataclass
class Problem:
    kind: str
    message: str
    image_id: Any = None
    ann_id: Any = None

    @property
    def severity(self) -> str:
        return KINDS[self.kind][0]

    def __str__(self) -> str:
        ids = f'image_id={self.image_id if self.image_id is not None else "-"} ' \
              f'ann_id={self.ann_id if self.ann_id is not None else "-"}'
        return f'{self.severity.upper():7s} {self.kind:26s} {ids}: {self.message}'


@dataclass
class DatasetReport:
    ann_file: str
    img_dir: str
    num_images: int = 0
    num_annotations: int = 0
    num_categories: int = 0
    problems: List[Problem] = field(default_factory=list)

    def add(self, kind: str, message: str, image_id=None, ann_id=None) -> None:
        if kind not in KINDS:
            raise KeyError(kind)
        self.problems.append(Problem(kind, message, image_id, ann_id))

    @property
    def errors(self) -> List[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> List[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    def counts(self) -> Counter:
        return Counter(p.kind for p in self.problems)

    def of_kind(self, kind: str) -> List[Problem]:
        return [p for p in self.problems if p.kind == kind]

    def exit_code(self, strict: bool = False) -> int:
        if self.of_kind('json_invalid') or self.of_kind('image_dir_missing'):
            return 2
        return 1 if self.errors or (strict and self.warnings) else 0

    def summary_table(self) -> str:
        counts = self.counts()
        rows = [('kind', 'severity', 'count', 'meaning')]
        for kind, (severity, meaning) in KINDS.items():
            if counts[kind]:
                rows.append((kind, severity, str(counts[kind]), meaning))
        rows.append(('total', '', f'{len(self.errors)} errors, {len(self.warnings)} warnings', ''))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = []
        for i, row in enumerate(rows):
            lines.append('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0 or i == len(rows) - 2:
                lines.append('  '.join('-' * w for w in widths))
        head = (f'{self.ann_file}: {self.num_images} images, {self.num_annotations} '
                f'annotations, {self.num_categories} categories')
        return head + '\n' + '\n'.join(lines)

    def to_dict(self) -> dict:
        return dict(ann_file=self.ann_file, img_dir=self.img_dir, num_images=self.num_images,
                    num_annotations=self.num_annotations, counts=dict(self.counts()),
                    problems=[dict(asdict(p), severity=p.severity) for p in self.problems])


# ------------------------------------------------------------------- helpers
def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def _polygon_area(coords: Sequence[float]) -> float:
    xs, ys = coords[0::2], coords[1::2]
    n = len(xs)
    return abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2


def check_image_file(path: str) -> Tuple[Optional[str], Optional[str], Optional[Tuple[int, int]]]:
    """(problem kind, message, (height, width) as training decodes it)."""
    if not osp.isfile(path):
        return 'image_missing', f'file not found: {path}', None
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as exc:
        return 'image_unreadable', f'cannot read {path}: {exc}', None
    if not data:
        return 'image_unreadable', f'empty file: {path}', None
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as im:
            im.verify()  # structure and checksums
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # every pixel: truncated files fail here
    except Exception as exc:  # Pillow raises many types for bad files
        return 'image_unreadable', f'{path} is corrupt ({type(exc).__name__}: {exc})', None
    import mmcv
    try:
        img = mmcv.imfrombytes(data, flag='color', backend='cv2')
    except Exception as exc:
        img, why = None, f'{type(exc).__name__}: {exc}'
    else:
        why = 'OpenCV cannot decode it'
    if img is None:
        return 'image_unreadable', f'{path}: {why}', None
    return None, None, (int(img.shape[0]), int(img.shape[1]))


def _check_image_entry(args) -> Tuple[Any, Optional[str], Optional[str], Optional[tuple]]:
    image_id, path = args
    kind, message, shape = check_image_file(path)
    return image_id, kind, message, shape


def _check_bbox(report, ann, image_id, ann_id, size, tolerance) -> None:
    bbox = ann.get('bbox')
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or \
            not all(_is_number(v) for v in bbox):
        report.add('bbox_invalid', f'bbox={bbox!r}', image_id, ann_id)
        return
    if not _finite(bbox):
        report.add('bbox_nonfinite', f'bbox={bbox!r}', image_id, ann_id)
        return
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        report.add('bbox_empty', f'bbox={bbox!r} (w={w:g}, h={h:g})', image_id, ann_id)
        return
    if w < 1 or h < 1:
        report.add('bbox_tiny', f'bbox={bbox!r}', image_id, ann_id)
    if size is not None:
        width, height = size
        if x < -tolerance or y < -tolerance or x + w > width + tolerance or \
                y + h > height + tolerance:
            report.add('bbox_out_of_image',
                       f'bbox={bbox!r} outside the {width}x{height} image', image_id, ann_id)


def _check_segmentation(report, ann, image_id, ann_id, size, tolerance) -> None:
    segm = ann.get('segmentation')
    if segm is None:
        return  # detection-only datasets
    if isinstance(segm, list):
        if not segm:
            report.add('segm_invalid_polygon', 'empty polygon list', image_id, ann_id)
        for i, poly in enumerate(segm):
            if not isinstance(poly, (list, tuple)) or not all(_is_number(v) for v in poly):
                report.add('segm_invalid_polygon', f'polygon {i} is not a list of numbers',
                           image_id, ann_id)
            elif len(poly) % 2 or len(poly) < 6:
                report.add('segm_invalid_polygon',
                           f'polygon {i} has {len(poly)} coordinates (needs an even number >= 6)',
                           image_id, ann_id)
            elif not _finite(poly):
                report.add('segm_invalid_polygon', f'polygon {i} has NaN/inf', image_id, ann_id)
            elif _polygon_area(poly) <= 0:
                report.add('segm_invalid_polygon', f'polygon {i} has zero area', image_id, ann_id)
            elif size is not None:
                width, height = size
                xs, ys = poly[0::2], poly[1::2]
                if min(xs) < -tolerance or min(ys) < -tolerance or \
                        max(xs) > width + tolerance or max(ys) > height + tolerance:
                    report.add('segm_out_of_image',
                               f'polygon {i} reaches outside the {width}x{height} image',
                               image_id, ann_id)
        return
    if isinstance(segm, dict):
        _check_rle(report, segm, image_id, ann_id, size)
        return
    report.add('segm_invalid', f'segmentation of type {type(segm).__name__}', image_id, ann_id)


def _check_rle(report, rle, image_id, ann_id, size) -> None:
    rle_size, counts = rle.get('size'), rle.get('counts')
    if not (isinstance(rle_size, (list, tuple)) and len(rle_size) == 2
            and all(isinstance(v, int) and v > 0 for v in rle_size)):
        report.add('segm_invalid_rle', f'RLE size={rle_size!r}', image_id, ann_id)
        return
    h, w = rle_size
    if size is not None and (w, h) != tuple(size):
        report.add('segm_invalid_rle',
                   f'RLE size {h}x{w} differs from the image {size[1]}x{size[0]}',
                   image_id, ann_id)
        return
    from pycocotools import mask as mask_utils
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != h * w:
            report.add('segm_invalid_rle',
                       f'uncompressed RLE counts do not sum to {h}x{w}={h * w}',
                       image_id, ann_id)
            return
        encoded = mask_utils.frPyObjects(dict(size=[h, w], counts=counts), h, w)
    elif isinstance(counts, (str, bytes)):
        encoded = dict(size=[h, w], counts=counts.encode() if isinstance(counts, str) else counts)
    else:
        report.add('segm_invalid_rle', f'RLE counts of type {type(counts).__name__}',
                   image_id, ann_id)
        return
    try:
        decoded = mask_utils.decode(encoded)
    except Exception as exc:
        report.add('segm_invalid_rle', f'RLE does not decode ({exc})', image_id, ann_id)
        return
    if decoded.shape[:2] != (h, w):
        report.add('segm_invalid_rle', 'RLE decodes to a wrong size', image_id, ann_id)


# --------------------------------------------------------------------- check
def _check_categories(report: DatasetReport, cats: list) -> set:
    """Category ids, with entries missing fields or repeated reported."""
    cat_ids = set()
    for cat in cats:
        if not isinstance(cat, dict) or 'id' not in cat or 'name' not in cat:
            report.add('missing_field', f'category entry {cat!r} needs "id" and "name"')
            continue
        if cat['id'] in cat_ids:
            report.add('duplicate_category_id', f'category id {cat["id"]} appears twice')
        cat_ids.add(cat['id'])
    return cat_ids


def _check_image_entries(report: DatasetReport, images: list, img_dir: str,
                         check_images: bool) -> Tuple[Dict[Any, Optional[Tuple[int, int]]],
                                                      List[Tuple[Any, str]]]:
    """``image id -> (width, height)`` (None where the JSON's size is bad) and
    the image files to decode, with bad entries reported."""
    sizes: Dict[Any, Optional[Tuple[int, int]]] = {}
    files: Dict[str, Any] = {}
    to_decode = []
    for img in images:
        if not isinstance(img, dict) or 'id' not in img:
            report.add('missing_field', f'image entry without "id": {str(img)[:80]}')
            continue
        image_id = img['id']
        if image_id in sizes:
            report.add('duplicate_image_id', f'image id {image_id} appears twice', image_id)
            continue
        width, height = img.get('width'), img.get('height')
        if not (isinstance(width, int) and isinstance(height, int)
                and not isinstance(width, bool) and width > 0 and height > 0):
            report.add('bad_image_size', f'width={width!r} height={height!r}', image_id)
            sizes[image_id] = None
        else:
            sizes[image_id] = (width, height)
        name = img.get('file_name')
        if not isinstance(name, str) or not name:
            report.add('missing_field', 'image without "file_name"', image_id)
            continue
        if name in files:
            report.add('duplicate_file_name',
                       f'{name} is also image {files[name]}', image_id)
        files[name] = image_id
        if check_images:
            to_decode.append((image_id, osp.join(img_dir, name)))
    return sizes, to_decode


def _decode_images(report: DatasetReport, to_decode: List[Tuple[Any, str]],
                   sizes: Dict[Any, Optional[Tuple[int, int]]], workers: int,
                   progress: bool) -> None:
    """Open every image file; report unreadable ones and sizes the JSON gets wrong."""
    if not to_decode:
        return
    if workers > 0:
        with ProcessPoolExecutor(workers) as pool:
            results = list(track(pool.map(_check_image_entry, to_decode, chunksize=16),
                                 len(to_decode), progress, 'decoding images'))
    else:
        results = [_check_image_entry(item)
                   for item in track(to_decode, enabled=progress, title='decoding images')]
    for image_id, kind, message, shape in results:
        if kind is not None:
            report.add(kind, message, image_id)
        elif sizes.get(image_id) is not None and shape is not None:
            width, height = sizes[image_id]
            if (shape[1], shape[0]) != (width, height):
                report.add('image_size_mismatch',
                           f'file is {shape[1]}x{shape[0]}, JSON says {width}x{height}',
                           image_id)


def _check_annotations(report: DatasetReport, anns: list, sizes: dict, cat_ids: set,
                       tolerance: float) -> set:
    """Report every problem of every annotation; returns the annotated image ids."""
    ann_ids = set()
    annotated = set()
    for ann in anns:
        if not isinstance(ann, dict):
            report.add('missing_field', f'annotation entry {str(ann)[:80]} is not an object')
            continue
        ann_id, image_id = ann.get('id'), ann.get('image_id')
        missing = [k for k in ('id', 'image_id', 'category_id', 'bbox') if k not in ann]
        if missing:
            report.add('missing_field', f'annotation without {missing}', image_id, ann_id)
        if ann_id is not None:
            if ann_id in ann_ids:
                report.add('duplicate_annotation_id', f'annotation id {ann_id} appears twice',
                           image_id, ann_id)
            ann_ids.add(ann_id)
        if image_id is not None and image_id not in sizes:
            report.add('unknown_image_id', f'image id {image_id} is not in "images"',
                       image_id, ann_id)
        annotated.add(image_id)
        if 'category_id' in ann and ann['category_id'] not in cat_ids:
            report.add('unknown_category_id', f'category id {ann["category_id"]!r} is not in '
                       f'"categories" ({sorted(cat_ids)})', image_id, ann_id)
        iscrowd = ann.get('iscrowd', 0)
        if iscrowd not in (0, 1) or isinstance(iscrowd, float):
            report.add('iscrowd_invalid', f'iscrowd={iscrowd!r}', image_id, ann_id)
        area = ann.get('area')
        if not _is_number(area) or not math.isfinite(float(area)) or area <= 0:
            report.add('area_invalid', f'area={area!r}', image_id, ann_id)
        size = sizes.get(image_id)
        if 'bbox' in ann:
            _check_bbox(report, ann, image_id, ann_id, size, tolerance)
        _check_segmentation(report, ann, image_id, ann_id, size, tolerance)
    return annotated


def check_coco_dataset(ann_file: str, img_dir: str, check_images: bool = True,
                       workers: int = 0, tolerance: float = 1.0,
                       progress: bool = False) -> DatasetReport:
    """Check ``ann_file`` (COCO JSON) against the images in ``img_dir``.

    Args:
        ann_file: the annotation JSON.
        img_dir: folder that images' ``file_name`` are relative to.
        check_images: open and decode every image (the slow part).
        workers: processes for decoding images (0: in this process).
        tolerance: pixels a box or polygon may reach outside the image.
        progress: draw a progress bar while decoding images.

    An unusable annotation file or a missing image folder is one problem
    (``json_invalid`` / ``image_dir_missing``), not one per image.
    """
    report = DatasetReport(str(ann_file), str(img_dir))
    try:
        data = read_coco_json(ann_file, check_records=False)
    except (OSError, ValueError) as exc:
        report.add('json_invalid', str(exc))
        return report
    images, anns, cats = data['images'], data['annotations'], data['categories']
    if check_images and not osp.isdir(img_dir):
        names = [img['file_name'] for img in images[:3]
                 if isinstance(img, dict) and isinstance(img.get('file_name'), str)]
        report.add('image_dir_missing',
                   f'image folder not found: {img_dir}: the {len(images):,} images of '
                   f'{ann_file} (e.g. {", ".join(names) or "none"}) would be read from it; '
                   "pass the folder their file_name is relative to, or --skip-images")
        check_images = False
    report.num_images, report.num_annotations, report.num_categories = \
        len(images), len(anns), len(cats)

    cat_ids = _check_categories(report, cats)
    sizes, to_decode = _check_image_entries(report, images, img_dir, check_images)
    _decode_images(report, to_decode, sizes, workers, progress)
    annotated = _check_annotations(report, anns, sizes, cat_ids, tolerance)
    for image_id in sizes:
        if image_id not in annotated:
            report.add('image_without_annotations', 'no annotation', image_id)
    return report
