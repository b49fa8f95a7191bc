"""The paper's numbers, written down once (He, Girshick, Dollar, ICCV 2019).

Source: "Rethinking ImageNet Pre-training" (arXiv 1811.08883), as collected in
the project's PAPER_RECIPE.md. Every AP is COCO val2017, in percent; all
COCO results are Mask R-CNN with a ResNet-FPN backbone and GroupNorm, trained
at batch 16 with the paper's schedule rule. Tables and plots look numbers up
here (:func:`reference_ap`) instead of copying them.

What is *not* here, on purpose: Faster R-CNN, SyncBN, scale-augmented and
Cascade variants have no single number in the paper that matches one of our
configs (SyncBN results exist only as curves), so a lookup for them
returns ``None`` rather than a number from a different setting.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

#: Box AP per schedule (the paper's R50/R101 GN results). Key: (depth, arm).
BOX_AP_BY_SCHEDULE: Dict[Tuple[str, str], Dict[str, float]] = {
    ('r50', 'scratch'): {'2x': 36.8, '3x': 39.5, '4x': 40.6, '5x': 40.7, '6x': 41.3},
    ('r50', 'pretrained'): {'2x': 40.3, '3x': 40.8, '4x': 40.9, '5x': 40.9, '6x': 41.1},
    ('r101', 'scratch'): {'2x': 38.2, '3x': 41.0, '4x': 41.8, '5x': 42.2, '6x': 42.7},
    ('r101', 'pretrained'): {'2x': 41.8, '3x': 42.3, '4x': 42.3, '5x': 41.9, '6x': 42.2},
}

#: Best schedule of each model, box / mask AP. The mask AP is only given for
#: these; R101 pretrained reaches 42.3 box AP at both 3x and 4x, so its
#: schedule (and therefore which run its 37.2 mask AP belongs to) is ambiguous.
BEST: Dict[Tuple[str, str], dict] = {
    ('r50', 'scratch'): dict(schedules=('6x',), bbox=41.3, segm=36.6),
    ('r50', 'pretrained'): dict(schedules=('6x',), bbox=41.1, segm=36.4),
    ('r101', 'scratch'): dict(schedules=('6x',), bbox=42.7, segm=37.6),
    ('r101', 'pretrained'): dict(schedules=('3x', '4x'), bbox=42.3, segm=37.2),
}

#: Small-data regimes (the paper's "training with less data" study): box AP
#: of R50-FPN GN Mask R-CNN on random COCO train2017 subsets, hyper-parameters
#: grid-searched on the pretrained model and reused for scratch. The 10k
#: numbers are each model at its best length (pretrained 60k, scratch 220k).
SMALL_DATA: Dict[int, dict] = {
    35_000: dict(pretrained=36.3, scratch=36.3,
                 setting='scale aug [512, 800], LR 0.04, LR decay factor 0.02'),
    10_000: dict(pretrained=26.0, scratch=25.9,
                 setting='pretrained best at 60k iterations, scratch at 220k',
                 best_iters=dict(pretrained=60_000, scratch=220_000)),
    3_500: dict(pretrained=16.0, scratch=9.3, setting=''),
    1_000: dict(pretrained=9.9, scratch=3.5, scratch_tuned=5.4,
                setting='scratch 5.4 AP with hyper-parameters tuned for it'),
}

#: PASCAL VOC (mAP): pretrained 18k iterations vs scratch 144k.
VOC = dict(pretrained=82.7, scratch=77.6, iters=dict(pretrained=18_000, scratch=144_000))

ARMS = ('scratch', 'pretrained')


def reference_ap(arch: Optional[str], depth: Optional[str], norm: Optional[str],
                 arm: str, schedule: Optional[str] = None, data: Optional[int] = None,
                 aug: Optional[str] = None) -> Dict[str, Optional[float]]:
    """The paper's ``bbox``/``segm`` AP for a setting, ``None`` where it has none.

    Args:
        arch: ``'mask_rcnn'`` (the only architecture with numbers).
        depth: ``'r50'`` or ``'r101'``.
        norm: ``'gn'`` (the only norm with numbers).
        arm: ``'scratch'`` or ``'pretrained'``.
        schedule: ``'2x'`` .. ``'6x'`` for full COCO.
        data: training-set size for the small-data regimes (35000, ...);
            ``None`` for full train2017.
        aug: train-time augmentation variant (``'ms'``, ``'lsj'``); the
            paper's table is without, so any variant has no reference.
    """
    none = dict(bbox=None, segm=None)
    if arm not in ARMS:
        raise ValueError(f'arm must be one of {ARMS}, got {arm!r}')
    if arch != 'mask_rcnn' or norm != 'gn' or aug:
        return none
    if data is not None:
        # Small-data numbers are R50 only; the regime sets its own schedule.
        if depth != 'r50' or data not in SMALL_DATA:
            return none
        return dict(bbox=SMALL_DATA[data][arm], segm=None)
    table = BOX_AP_BY_SCHEDULE.get((depth, arm))
    if table is None or schedule not in table:
        return none
    best = BEST[(depth, arm)]
    segm = best['segm'] if best['schedules'] == (schedule,) else None
    return dict(bbox=table[schedule], segm=segm)


def reference_markdown() -> str:
    """The paper's tables as Markdown (for docs and ``compare_runs --paper``)."""
    schedules = ['2x', '3x', '4x', '5x', '6x']
    lines = ['| model (box AP) | ' + ' | '.join(schedules) + ' |',
             '|---|' + '---|' * len(schedules)]
    for (depth, arm), row in BOX_AP_BY_SCHEDULE.items():
        init = 'random init' if arm == 'scratch' else 'pretrained'
        name = f'Mask R-CNN {depth.upper()} GN {init}'
        lines.append(f'| {name} | ' + ' | '.join(f'{row[s]:.1f}' for s in schedules) + ' |')
    lines += ['', '| training images | pretrained | scratch | setting |', '|---|---|---|---|']
    for size, row in SMALL_DATA.items():
        scratch = f'{row["scratch"]:.1f}'
        if 'scratch_tuned' in row:
            scratch += f' ({row["scratch_tuned"]:.1f} tuned)'
        lines.append(f'| {size:,} | {row["pretrained"]:.1f} | {scratch} | {row["setting"]} |')
    return '\n'.join(lines)
