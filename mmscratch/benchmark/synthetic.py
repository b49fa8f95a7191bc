"""Synthetic inputs for the benchmarks.

Two kinds, both COCO-sized by default (1333x800, 7 instances an image):

* :func:`make_train_batch` builds a model-ready batch in memory (``inputs``
  as uint8 CHW tensors and ``DetDataSample`` s with boxes, labels and masks),
  exactly what a dataloader hands to ``model.train_step``. It needs no files,
  so any config, MMDetection's stock ones included, can be timed on
  COCO-sized inputs without COCO.
* :func:`generate_coco_images` writes JPEGs and a COCO instances JSON with
  polygon masks, so the data-only benchmark runs a config's real training
  pipeline (decode, annotations, resize, flip, packing) on files.

:func:`proposal_candidates` makes what the RPN hands its NMS: boxes, scores
and FPN level ids, spread over an image or clustered around a few objects.

Instances are random convex polygons (ellipses of 12-24 vertices) inside
random boxes of 5-40% of the image side: their polygons rasterise to the
bitmaps, and their extents are the boxes, as in COCO.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from ..utils.atomic_io import atomic_write_text
from ..utils.progress import track

#: COCO's training size (MMDetection's ``Resize(scale=(1333, 800))``), W x H.
COCO_IMAGE_SIZE = (1333, 800)
#: COCO train2017 has ~7.3 instances per image.
COCO_INSTANCES_PER_IMAGE = 7
#: Version of :func:`generate_coco_images`' output; part of the cache key.
SYNTHETIC_COCO_VERSION = '1'


def random_polygons(rng: np.random.Generator, width: int, height: int,
                    num_instances: int) -> List[np.ndarray]:
    """``num_instances`` convex polygons (Nx2 float arrays, x/y) in the image."""
    polygons = []
    short = min(width, height)
    for _ in range(num_instances):
        bw, bh = rng.uniform(0.05, 0.4, size=2) * short
        bw, bh = max(bw, 4.0), max(bh, 4.0)
        cx = rng.uniform(bw / 2, max(bw / 2 + 1, width - bw / 2))
        cy = rng.uniform(bh / 2, max(bh / 2 + 1, height - bh / 2))
        n = int(rng.integers(12, 25))
        angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
        # radius jitter keeps the outline irregular, like real object masks
        radius = rng.uniform(0.8, 1.0, size=n)
        xs = cx + np.cos(angles) * radius * bw / 2
        ys = cy + np.sin(angles) * radius * bh / 2
        poly = np.stack([np.clip(xs, 0, width - 1), np.clip(ys, 0, height - 1)], 1)
        polygons.append(poly.astype(np.float32))
    return polygons


def random_image(rng: np.random.Generator, width: int, height: int,
                 polygons: Sequence[np.ndarray]) -> np.ndarray:
    """A photo-like BGR uint8 image: smooth background, noise, filled polygons.

    Pure noise would compress (and decode) far worse than photos do, which
    would make JPEG decoding look slower than on COCO; a smooth upscaled
    background with mild noise compresses like a photo.
    """
    low = rng.integers(0, 256, size=(max(2, height // 64), max(2, width // 64), 3),
                       dtype=np.uint8)
    img = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(-12, 13, size=img.shape, dtype=np.int16)
    img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    for poly in polygons:
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        cv2.fillPoly(img, [np.round(poly).astype(np.int32)], colour)
    return img


def polygon_bbox(poly: np.ndarray) -> List[float]:
    """x1, y1, x2, y2 of a polygon."""
    return [float(poly[:, 0].min()), float(poly[:, 1].min()),
            float(poly[:, 0].max()), float(poly[:, 1].max())]


def proposal_candidates(num: int, generator, objects: int = 0, spread: float = 3.0,
                        extent: float = 128.0):
    """``(boxes, scores, level_ids)`` of ``num`` RPN candidates on an ``extent``-px
    image, 4-64 px boxes: centres uniform, or with ``objects`` > 0 around that many
    objects (``spread`` px normal), as trained proposals crowd the objects. Draws
    from the torch ``generator`` only."""
    import torch
    if objects:
        where = torch.rand(objects, 2, generator=generator) * extent
        centres = where[torch.randint(0, objects, (num,), generator=generator)] + torch.randn(
            num, 2, generator=generator) * spread
    else:
        centres = torch.rand(num, 2, generator=generator) * extent
    sizes = torch.rand(num, 2, generator=generator) * 60 + 4
    boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], 1)
    scores = torch.rand(num, generator=generator)
    levels = torch.randint(0, 5, (num,), generator=generator)
    return boxes, scores, levels


def make_train_batch(batch_size: int = 2,
                     image_size: Tuple[int, int] = COCO_IMAGE_SIZE,
                     num_instances: int = COCO_INSTANCES_PER_IMAGE,
                     num_classes: int = 80,
                     mask_type: str = 'bitmap',
                     seed: int = 0) -> dict:
    """A batch as a dataloader yields it after ``PackDetInputs``.

    Args:
        image_size: (width, height) of every image.
        mask_type: ``'bitmap'`` (``BitmapMasks``, what ``LoadAnnotations``'
            default ``poly2mask=True`` gives) or ``'polygon'``
            (``PolygonMasks``, ``poly2mask=False``); the mask head's target
            computation differs between the two, so the choice is timed.
    """
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks, PolygonMasks
    from mmengine.structures import InstanceData

    if mask_type not in ('bitmap', 'polygon'):
        raise ValueError(f"mask_type must be 'bitmap' or 'polygon', got {mask_type!r}")
    width, height = image_size
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for i in range(batch_size):
        polygons = random_polygons(rng, width, height, num_instances)
        img = random_image(rng, width, height, polygons)
        inputs.append(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))
        if mask_type == 'bitmap':
            bitmaps = np.zeros((len(polygons), height, width), dtype=np.uint8)
            for k, poly in enumerate(polygons):
                cv2.fillPoly(bitmaps[k], [np.round(poly).astype(np.int32)], 1)
            masks = BitmapMasks(bitmaps, height, width)
        else:
            masks = PolygonMasks([[p.reshape(-1).astype(np.float64)] for p in polygons],
                                 height, width)
        gt = InstanceData()
        gt.bboxes = HorizontalBoxes(torch.tensor([polygon_bbox(p) for p in polygons],
                                                 dtype=torch.float32))
        gt.labels = torch.from_numpy(rng.integers(0, num_classes, size=len(polygons)))
        gt.masks = masks
        sample = DetDataSample(metainfo=dict(
            img_id=i, img_path=f'synthetic_{i}.jpg', ori_shape=(height, width),
            img_shape=(height, width), scale_factor=(1.0, 1.0), flip=False,
            flip_direction=None))
        sample.gt_instances = gt
        sample.ignored_instances = InstanceData(
            bboxes=HorizontalBoxes(torch.zeros((0, 4))),
            labels=torch.zeros((0,), dtype=torch.long))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _cache_key(num_images, image_size, num_instances, seed, quality) -> dict:
    return dict(version=SYNTHETIC_COCO_VERSION, num_images=num_images,
                image_size=list(image_size), num_instances=num_instances,
                seed=seed, jpeg_quality=quality)


def generate_coco_images(out_dir: str, num_images: int = 16,
                         image_size: Tuple[int, int] = COCO_IMAGE_SIZE,
                         num_instances: int = COCO_INSTANCES_PER_IMAGE,
                         seed: int = 0, quality: int = 90,
                         classes: Sequence[str] = ('object',)) -> str:
    """Write ``out_dir/images/*.jpg`` and ``out_dir/instances.json``.

    Cached: when the JSON already records the same arguments, nothing is
    regenerated (1333x800 JPEGs take ~50 ms each to make). Returns the JSON's
    path.
    """
    ann_path = osp.join(out_dir, 'instances.json')
    key = _cache_key(num_images, image_size, num_instances, seed, quality)
    if osp.isfile(ann_path):
        with open(ann_path) as f:
            if json.load(f).get('info', {}).get('mmscratch_benchmark') == key:
                return ann_path
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    width, height = image_size
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in track(range(num_images), title=f'generating {num_images} benchmark images'):
        polygons = random_polygons(rng, width, height, num_instances)
        img = random_image(rng, width, height, polygons)
        name = f'{i:06d}.jpg'
        cv2.imwrite(osp.join(out_dir, 'images', name), img,
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
        images.append(dict(id=i, file_name=name, width=width, height=height))
        for poly in polygons:
            x1, y1, x2, y2 = polygon_bbox(poly)
            area = float(cv2.contourArea(poly))
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i,
                category_id=int(rng.integers(0, len(classes))) + 1,
                bbox=[x1, y1, x2 - x1, y2 - y1], area=area, iscrowd=0,
                segmentation=[[round(float(v), 2) for v in poly.reshape(-1)]]))
    coco = dict(info=dict(mmscratch_benchmark=key), images=images,
                annotations=annotations,
                categories=[dict(id=k + 1, name=n) for k, n in enumerate(classes)])
    # atomic (a killed run never leaves a half cache), never through a planted link
    atomic_write_text(ann_path, json.dumps(coco))
    return ann_path
