"""mmscratch's CPU ops against MMCV's kernels, op by op, over input sizes.

``tools/benchmark_ops.py [--threads N] [--out FILE]`` times (JSON), on
synthetic inputs, forward + backward of ``SeparableRoIAlign`` and
``mmcv.ops.RoIAlign`` (4 images, 64 channels, box-head 7x7 with 256 RoIs and
mask-head 14x14 with 64 RoIs of up to 56 px, as the finest FPN level gets them)
on square feature maps from 16 to 96 pixels a side, and the RPN's proposal NMS
(first-k against ``mmcv.ops.batched_nms``) on clustered boxes. It is where
``separable_roi_align.MAX_MAP_PIXELS`` comes from: SeparableRoIAlign's cost
grows with the map, MMCV's with the RoIs. Above the cap the op hands the call
to MMCV's kernel, so the ``mmscratch`` column there is the raw products
(``max_map_pixels`` lifted) to show why.
"""
from __future__ import annotations

import time
from typing import Callable, List, Sequence

import torch


def _ms(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def roi_align_rows(sides: Sequence[int], repeats: int, seed: int = 0) -> List[dict]:
    from mmcv.ops import RoIAlign

    from mmscratch.models.separable_roi_align import separable_roi_align
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for side in sides:
        for out, num_rois in ((7, 256), (14, 64)):
            feats = torch.randn(4, 64, side, side, generator=gen, requires_grad=True)
            extent = side * 4  # stride 4: the finest FPN level
            image = torch.randint(0, 4, (num_rois,), generator=gen).float()
            xy = torch.rand(num_rois, 2, generator=gen) * extent * 0.8
            wh = torch.rand(num_rois, 2, generator=gen) * 52 + 4
            rois = torch.cat([image[:, None], xy, xy + wh], 1)
            mmcv_op = RoIAlign(out, 0.25, 0)

            def theirs():
                mmcv_op(feats, rois).sum().backward()

            def ours():
                separable_roi_align(feats, rois, (out, out), 0.25, 0, True,
                                    max_map_pixels=side * side).sum().backward()

            mmcv_ms, ours_ms = _ms(theirs, repeats), _ms(ours, repeats)
            rows.append(dict(op='roi_align', map=[side, side], output=out, rois=num_rois,
                             mmcv_ms=round(mmcv_ms, 2), mmscratch_ms=round(ours_ms, 2),
                             speedup=round(mmcv_ms / ours_ms, 2)))
    return rows


def nms_rows(sizes: Sequence[int], repeats: int, keep: int = 300, seed: int = 0) -> List[dict]:
    from mmcv.ops import batched_nms

    from mmscratch.models.first_k_nms import batched_nms_first_k

    from .synthetic import proposal_candidates
    rows = []
    gen = torch.Generator().manual_seed(seed)
    cfg = dict(type='nms', iou_threshold=0.7)
    for num in sizes:
        boxes, scores, levels = proposal_candidates(num, gen, objects=8, spread=12)
        mmcv_ms = _ms(lambda: batched_nms(boxes, scores, levels, cfg), repeats)
        ours_ms = _ms(lambda: batched_nms_first_k(boxes, scores, levels, cfg, keep), repeats)
        rows.append(dict(op='rpn_nms', boxes=num, keep=keep, mmcv_ms=round(mmcv_ms, 2),
                         mmscratch_ms=round(ours_ms, 2), speedup=round(mmcv_ms / ours_ms, 2)))
    return rows


def run(threads: int, sides: Sequence[int] = (16, 32, 48, 64, 96),
        nms_boxes: Sequence[int] = (2000, 5000), repeats: int = 5) -> dict:
    """Every row, with ``threads`` torch threads; the JSON ``tools/benchmark_ops.py`` prints."""
    if repeats < 1 or threads < 1 or min(sides) < 1 or min(nms_boxes) < 1:
        raise ValueError('op benchmark: repeats, threads, sides and box counts must be >= 1')
    from .common import versions
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return dict(threads=threads, repeats=repeats,
                    roi_align=roi_align_rows(sides, repeats),
                    rpn_nms=nms_rows(nms_boxes, repeats), versions=versions())
    finally:
        torch.set_num_threads(previous)
