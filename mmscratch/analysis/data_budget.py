"""Figure 3 of the paper: data seen by pre-training + fine-tuning vs from scratch.

The paper's argument is about totals: ImageNet pre-training sees 1.28M
images x ~100 epochs of 224x224 crops with ~1 object each, a lot of images
and instances but small ones; a detector trained from scratch on COCO sees
far fewer images, but each is ~800x1333 pixels with ~7 instances, so in
pixels the two are of the same order. This module computes those totals for
any config, schedule and dataset:

* images = iterations x batch (at the schedule's own batch: the linear
  scaling rule keeps images seen constant across GPU counts);
* instances = images x mean instances per training image;
* pixels = images x mean network-input pixels per image (after the config's
  train-time resize/crop, before batch padding: what ``DataSeenHook``
  counts during training).

For COCO train2017 without the annotation file at hand, the statistics are
constants (:data:`COCO_TRAIN2017`); for any other dataset they are read from
its annotation file. Expected input pixels under random resizing are
averaged over a grid of the transform's range, not sampled.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os.path as osp
import re
from collections import Counter
from typing import List, Optional, Sequence, Tuple

from ..datasets.coco_json import read_coco_json
from ..recipe.schedule import (ITERS_PER_1X, PAPER_BATCH_SIZE, iters_label, paper_schedule,
                               parse_schedule, schedule_label)
from ..utils.config_facts import type_name

__all__ = ['DatasetStats', 'data_budget', 'config_budget', 'budget_markdown', 'input_pixels',
           'stats_from_annotations', 'coco_train2017_stats', 'schedule_extent',
           'config_schedule', 'target_stats', 'imagenet_stats', 'to_json']

#: ImageNet-1k train: images, the "~100 epochs" of a typical pre-training,
#: 224x224 crops, one labelled object per image.
IMAGENET_IMAGES = 1_281_167
IMAGENET_EPOCHS = 100
IMAGENET_CROP = 224
#: Grid points per random range when averaging input sizes.
GRID_POINTS = 9


@dataclasses.dataclass(frozen=True)
class DatasetStats:
    """What one pass over a training set holds.

    Attributes:
        name: for tables.
        images: training images (after ``filter_empty_gt``).
        instances_per_image: mean non-crowd instances per training image.
        pixels_per_image: mean network-input pixels per image.
        source: where the numbers come from (file, or "constants").
    """

    name: str
    images: int
    instances_per_image: float
    pixels_per_image: float
    source: str = 'constants'


#: COCO train2017: 118,287 images, 860,001 instance annotations (~7.3 per
#: image). Its images are mostly 640 px on the longer side at 4:3, so the
#: typical image (640x480) stands for all when the file is not available.
COCO_TRAIN2017_IMAGES = 118_287
COCO_TRAIN2017_INSTANCES = 860_001
COCO_TYPICAL_SIZE = (640, 480)


def imagenet_stats() -> DatasetStats:
    return DatasetStats('ImageNet-1k', IMAGENET_IMAGES, 1.0, float(IMAGENET_CROP ** 2))


# ------------------------------------------------------------------ pixels
def _grid(lo: float, hi: float, n: int = GRID_POINTS) -> List[float]:
    if lo == hi:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _rescale(size: Tuple[float, float], scale, keep_ratio: bool) -> Tuple[float, float]:
    """mmcv's Resize: ``scale`` is (w, h); keep_ratio fits (long, short) edges."""
    w, h = size
    if not keep_ratio:
        return float(scale[0]), float(scale[1])
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(w, h), short_edge / min(w, h))
    return float(int(w * factor + 0.5)), float(int(h * factor + 0.5))


def _apply(transform: dict, sizes: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
    """Image sizes after one pipeline transform (a list of equally likely sizes)."""
    kind = type_name(transform)
    keep_ratio = transform.get('keep_ratio', False)
    out: List[Tuple[float, float]] = []
    if kind == 'Resize':
        scale, factor = transform.get('scale'), transform.get('scale_factor')
        for w, h in sizes:
            if scale is not None:
                scale_ = (scale, scale) if isinstance(scale, (int, float)) else scale
                out.append(_rescale((w, h), scale_, keep_ratio))
            elif factor is not None:
                fw, fh = (factor, factor) if isinstance(factor, (int, float)) else factor
                out.append((w * fw, h * fh))
            else:
                out.append((w, h))
        return out
    if kind == 'RandomResize':
        scale, ratio_range = transform['scale'], transform.get('ratio_range')
        if ratio_range is not None:
            candidates = [(int(scale[0] * r), int(scale[1] * r)) for r in _grid(*ratio_range)]
        elif isinstance(scale, (list, tuple)) and len(scale) == 2 and \
                isinstance(scale[0], (list, tuple)):
            e0 = _grid(min(scale[0][0], scale[1][0]), max(scale[0][0], scale[1][0]))
            e1 = _grid(min(scale[0][1], scale[1][1]), max(scale[0][1], scale[1][1]))
            candidates = [(a, b) for a in e0 for b in e1]
        else:
            candidates = [tuple(scale)]
        return [_rescale(s, c, keep_ratio) for s in sizes for c in candidates]
    if kind == 'RandomChoiceResize':
        return [_rescale(s, c, keep_ratio) for s in sizes for c in transform['scales']]
    if kind == 'FixShapeResize':
        return [_rescale(s, (transform['width'], transform['height']), keep_ratio)
                for s in sizes]
    if kind == 'RandomCrop':
        crop_type = transform.get('crop_type', 'absolute')
        cw, ch = transform['crop_size']
        for w, h in sizes:
            if crop_type == 'absolute':
                out.append((min(w, cw), min(h, ch)))
            elif crop_type == 'absolute_range':  # crop_size = (min, max) side
                lo, hi = transform['crop_size']
                out.append(((min(w, lo) + min(w, hi)) / 2, (min(h, lo) + min(h, hi)) / 2))
            elif crop_type == 'relative':
                out.append((w * cw, h * ch))
            else:  # relative_range: uniform in [c, 1]
                out.append((w * (1 + cw) / 2, h * (1 + ch) / 2))
        return out
    if kind == 'Pad':
        size, divisor = transform.get('size'), transform.get('size_divisor')
        for w, h in sizes:
            if size is not None:
                w, h = max(w, size[0]), max(h, size[1])
            if divisor:
                w, h = math.ceil(w / divisor) * divisor, math.ceil(h / divisor) * divisor
            out.append((w, h))
        return out
    return sizes


def input_pixels(width: float, height: float, pipeline: Sequence[dict]) -> float:
    """Mean network-input pixels of a ``width x height`` image under ``pipeline``."""
    sizes = [(float(width), float(height))]
    for transform in pipeline:
        sizes = _apply(transform, sizes)
    return sum(w * h for w, h in sizes) / len(sizes)


# ----------------------------------------------------------------- datasets
def coco_train2017_stats(pipeline: Sequence[dict], images: Optional[int] = None) -> DatasetStats:
    """COCO train2017 from constants; ``images`` for a random subset of it."""
    n = images or COCO_TRAIN2017_IMAGES
    name = 'COCO train2017' if images is None else f'COCO train2017, {n:,}-image subset'
    return DatasetStats(name, n, COCO_TRAIN2017_INSTANCES / COCO_TRAIN2017_IMAGES,
                        input_pixels(*COCO_TYPICAL_SIZE, pipeline), 'constants')


def stats_from_annotations(ann_file: str, pipeline: Sequence[dict],
                           filter_empty_gt: bool = True,
                           images: Optional[int] = None) -> DatasetStats:
    """Statistics of a COCO-format training set from its annotation file.

    Args:
        ann_file: the training annotation JSON.
        pipeline: the config's train pipeline (for input pixels).
        filter_empty_gt: count only images with an instance, as
            MMDetection's ``filter_cfg=dict(filter_empty_gt=True)`` trains.
        images: report this many images instead (a subset of the same
            distribution); the per-image means still come from the file.
    """
    coco = read_coco_json(ann_file)
    per_image = Counter(a['image_id'] for a in coco['annotations'] if not a.get('iscrowd', 0))
    kept = [img for img in coco['images']
            if not filter_empty_gt or per_image.get(img['id'], 0) > 0]
    if not kept:
        raise ValueError(f'{ann_file}: no training image with an annotation')
    sizes = Counter((img['width'], img['height']) for img in kept)
    pixels = sum(n * input_pixels(w, h, pipeline) for (w, h), n in sizes.items()) / len(kept)
    instances = sum(per_image.get(img['id'], 0) for img in kept) / len(kept)
    return DatasetStats(osp.basename(ann_file), images or len(kept), instances, pixels,
                        ann_file)


# ---------------------------------------------------------------- schedules
def schedule_extent(text: str) -> dict:
    """A schedule in :func:`mmscratch.recipe.schedule.parse_schedule`'s grammar
    as what the budget needs: ``iters`` (or ``epochs``) and its table ``label``.

    '6x' -> 6 x 90k iterations; '220k' or '60000' -> iterations; '12e' -> epochs.
    Any length is accepted (the budget counts images; it trains nothing).
    """
    spec = parse_schedule(str(text))
    if 'epochs' in spec:
        return dict(epochs=spec['epochs'], label=schedule_label(spec))
    iters = spec['total_iters'] if 'total_iters' in spec else \
        int(round(spec['multiple'] * ITERS_PER_1X))
    return dict(iters=iters, label=schedule_label(spec))


def config_schedule(cfg) -> dict:
    """Iterations (or epochs) and batch of a config's training schedule."""
    train_cfg = cfg.get('train_cfg') or {}
    kind = type_name(train_cfg)
    per_gpu = (cfg.get('train_dataloader') or {}).get('batch_size', 2)
    base_batch = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    if 'schedule' in train_cfg:  # ScratchIterBasedTrainLoop
        batch = train_cfg.get('base_batch_size', PAPER_BATCH_SIZE)
        sched = paper_schedule(**dict(train_cfg['schedule']), batch_size=batch)
        multiple = train_cfg['schedule'].get('multiple')
        label = (f'{multiple:g}x' if multiple and 'total_iters' not in train_cfg['schedule']
                 else iters_label(sched.total_iters))
        return dict(iters=sched.total_iters, batch=batch, label=label)
    if 'max_iters' in train_cfg or 'Iter' in kind:
        return dict(iters=int(train_cfg['max_iters']), batch=base_batch or per_gpu,
                    label=iters_label(int(train_cfg['max_iters'])))
    if 'max_epochs' in train_cfg:
        return dict(epochs=float(train_cfg['max_epochs']), batch=base_batch or per_gpu,
                    label=f'{train_cfg["max_epochs"]}e')
    raise ValueError('cannot tell the training length of this config (no train_cfg)')


def images_of(schedule: dict, batch: int, dataset_images: int) -> int:
    if 'epochs' in schedule:
        return int(round(schedule['epochs'] * dataset_images))
    return int(schedule['iters']) * int(batch)


# ------------------------------------------------------------------ budget
def _arm(images: int, stats: DatasetStats) -> dict:
    return dict(images=int(images), instances=images * stats.instances_per_image,
                pixels=images * stats.pixels_per_image,
                epochs=images / stats.images)


def data_budget(target: DatasetStats, scratch_images: int, finetune_images: int,
                pretrain: Optional[DatasetStats] = None,
                pretrain_epochs: float = IMAGENET_EPOCHS) -> dict:
    """The three bars of Figure 3 (images, instances, pixels) for each arm.

    Returns a dict with ``pretraining``, ``finetuning``, ``pretrained_total``
    (their sum), ``scratch`` (each: images, instances, pixels, epochs) and
    ``ratio`` (scratch / pretrained_total per quantity), plus the dataset
    statistics used.
    """
    pretrain = pretrain or imagenet_stats()
    pre = _arm(int(round(pretrain.images * pretrain_epochs)), pretrain)
    fine = _arm(finetune_images, target)
    total = {k: pre[k] + fine[k] for k in ('images', 'instances', 'pixels')}
    scratch = _arm(scratch_images, target)
    return dict(
        pretraining=pre, finetuning=fine, pretrained_total=total, scratch=scratch,
        ratio={k: scratch[k] / total[k] for k in total},
        datasets=dict(target=dataclasses.asdict(target), pretrain=dataclasses.asdict(pretrain)))


def _human(value: float) -> str:
    for unit, size in (('T', 1e12), ('G', 1e9), ('M', 1e6), ('k', 1e3)):
        if abs(value) >= size:
            return f'{value / size:.3g}{unit}'
    return f'{value:.3g}'


def budget_markdown(budget: dict, finetune_label: str, scratch_label: str,
                    title: str = '', epochs: bool = False) -> str:
    """Figure 3 as a Markdown table (``epochs`` adds passes over each dataset)."""
    target, pre = budget['datasets']['target'], budget['datasets']['pretrain']
    crop = int(round(pre['pixels_per_image'] ** 0.5))
    head = (f'| | {pre["name"]} pre-training | fine-tuning ({finetune_label}) '
            f'| pre-training + fine-tuning | from scratch ({scratch_label}) '
            f'| scratch / (pre-training + fine-tuning) |')
    lines = ([f'## {title}', ''] if title else []) + [head, '|---|---:|---:|---:|---:|---:|']
    for key in ('images', 'instances', 'pixels'):
        lines.append(f'| {key} | {_human(budget["pretraining"][key])} '
                     f'| {_human(budget["finetuning"][key])} '
                     f'| {_human(budget["pretrained_total"][key])} '
                     f'| {_human(budget["scratch"][key])} | {budget["ratio"][key]:.2f} |')
    if epochs:
        lines.append(f'| images per epoch | {_human(pre["images"])} | {_human(target["images"])} '
                     f'| – | {_human(target["images"])} | – |')
        lines.append(f'| epochs | {budget["pretraining"]["epochs"]:.3g} '
                     f'| {budget["finetuning"]["epochs"]:.3g} | – '
                     f'| {budget["scratch"]["epochs"]:.3g} | – |')
    lines += ['', f'Target data: {target["name"]} ({target["images"]:,} images, '
              f'{target["instances_per_image"]:.2f} instances/image, '
              f'{target["pixels_per_image"]:,.0f} input pixels/image; {target["source"]}). '
              f'Pre-training: {pre["images"]:,} images x {budget["pretraining"]["epochs"]:g} '
              f'epochs, {crop}x{crop} '
              f'crops, {pre["instances_per_image"]:g} instance/image.']
    return '\n'.join(lines) + '\n'


# --------------------------------------------------------------- from config
def _train_dataset(cfg) -> dict:
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    while 'dataset' in dataset and 'ann_file' not in dataset:  # RepeatDataset & co.
        dataset = dataset['dataset']
    return dataset


def _subset_size_from_name(path: str) -> Optional[int]:
    match = re.search(r'_(\d+(?:\.\d+)?)k\.json$', path)
    return int(round(float(match.group(1)) * 1000)) if match else None


def target_stats(cfg, ann_file: Optional[str] = None,
                 dataset_size: Optional[int] = None) -> DatasetStats:
    """Training-set statistics for a config (see :func:`config_budget`)."""
    dataset = _train_dataset(cfg)
    pipeline = dataset.get('pipeline') or cfg.get('train_pipeline') or []
    filter_empty = (dataset.get('filter_cfg') or {}).get('filter_empty_gt', False)
    if ann_file is not None and not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    if ann_file is None and dataset.get('ann_file'):
        ann_file = dataset['ann_file']
        root = dataset.get('data_root') or ''
        if root and not osp.isabs(ann_file):
            ann_file = osp.join(root, ann_file)
    if ann_file and osp.isfile(ann_file):
        return stats_from_annotations(ann_file, pipeline, filter_empty_gt=filter_empty,
                                      images=dataset_size)
    if ann_file and 'train2017' in osp.basename(ann_file):
        return coco_train2017_stats(pipeline, dataset_size or _subset_size_from_name(ann_file))
    raise FileNotFoundError(
        f'training annotations not found ({ann_file}); pass --ann-file (or --dataset-size '
        'for a COCO subset)')


def config_budget(cfg, schedule: Optional[str] = None, finetune_schedule: Optional[str] = None,
                  ann_file: Optional[str] = None, dataset_size: Optional[int] = None,
                  pretrain_epochs: float = IMAGENET_EPOCHS,
                  pretrain: Optional[DatasetStats] = None) -> dict:
    """Figure 3 for a config: its (or the given) schedule, its training data.

    Args:
        cfg: a loaded config.
        schedule: scratch schedule ('6x', '220k', '12e'); default: the config's.
        finetune_schedule: the pretrained arm's fine-tuning schedule;
            default: the same as ``schedule``.
        ann_file: training annotations to count (default: the config's);
            COCO train2017 (or a subset named ``*train2017*_<N>k.json``) is
            recognised by name and uses constants when the file is absent.
        dataset_size: training images, e.g. 35000 for a subset.
        pretrain_epochs: epochs of the pre-training.
        pretrain: the pre-training set (default: ImageNet-1k's constants).

    Returns:
        :func:`data_budget`'s dict plus ``schedules`` (labels and batch).
    """
    stats = target_stats(cfg, ann_file, dataset_size)
    own = config_schedule(cfg)
    batch = own['batch']
    scratch = schedule_extent(schedule) if schedule else own
    finetune = schedule_extent(finetune_schedule) if finetune_schedule else scratch
    budget = data_budget(stats, images_of(scratch, batch, stats.images),
                         images_of(finetune, batch, stats.images),
                         pretrain=pretrain, pretrain_epochs=pretrain_epochs)
    budget['schedules'] = dict(scratch=scratch['label'], finetune=finetune['label'], batch=batch)
    return budget


def to_json(budget: dict) -> str:
    return json.dumps(budget, indent=1, sort_keys=True)
