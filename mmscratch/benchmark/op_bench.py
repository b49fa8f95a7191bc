"""mmscratch's CPU ops against MMCV's kernels, op by op, over input sizes; JSON.

``python -m mmscratch.benchmark.op_bench [--threads N] [--out FILE]`` times, on
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

import argparse
import json
import time
from typing import Callable, List, Optional, Sequence

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
    rows = []
    gen = torch.Generator().manual_seed(seed)
    cfg = dict(type='nms', iou_threshold=0.7)
    for num in sizes:
        objects = torch.rand(8, 2, generator=gen) * 128
        centres = objects[torch.randint(0, 8, (num,), generator=gen)] + torch.randn(
            num, 2, generator=gen) * 12
        sizes_ = torch.rand(num, 2, generator=gen) * 60 + 4
        boxes = torch.cat([centres - sizes_ / 2, centres + sizes_ / 2], 1)
        scores = torch.rand(num, generator=gen)
        levels = torch.randint(0, 5, (num,), generator=gen)
        mmcv_ms = _ms(lambda: batched_nms(boxes, scores, levels, cfg), repeats)
        ours_ms = _ms(lambda: batched_nms_first_k(boxes, scores, levels, cfg, keep), repeats)
        rows.append(dict(op='rpn_nms', boxes=num, keep=keep, mmcv_ms=round(mmcv_ms, 2),
                         mmscratch_ms=round(ours_ms, 2), speedup=round(mmcv_ms / ours_ms, 2)))
    return rows


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(),
                        help='torch threads (default: torch\'s own)')
    parser.add_argument('--sides', type=int, nargs='+', default=[16, 32, 48, 64, 96])
    parser.add_argument('--nms-boxes', type=int, nargs='+', default=[2000, 5000])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', help='also write the JSON here')
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.threads < 1 or min(args.sides) < 1:
        parser.error('--repeats, --threads and --sides must be >= 1')
    torch.set_num_threads(args.threads)
    from .common import versions
    result = dict(threads=args.threads, repeats=args.repeats,
                  roi_align=roi_align_rows(args.sides, args.repeats),
                  rpn_nms=nms_rows(args.nms_boxes, args.repeats), versions=versions())
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        from ..utils.atomic_io import atomic_write_text
        atomic_write_text(args.out, text + '\n')
    return result


if __name__ == '__main__':
    main()
