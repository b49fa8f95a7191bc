"""Greedy NMS that stops once it has kept the ``k`` boxes the caller will use.

MMDetection's RPN runs MMCV's ``batched_nms`` over every candidate (the
``nms_pre`` best of each FPN level: ~2,000 boxes a 128-px image in the demo,
~5,000 at COCO size) and then keeps the first ``max_per_img`` (300 in the demo,
1,000 in the COCO configs). MMCV's CPU kernel finishes the whole greedy pass
first: on the 2-core demo about 40 ms of a 306 ms training step
(docs/performance.md, "Training-step levers"). Greedy NMS
decides boxes in score order and never revisits a decision, so the first
``k`` boxes it keeps are known as soon as it has kept ``k``: stopping there
gives exactly MMCV's result truncated to ``k``.

:func:`nms_first_k` walks the score-sorted boxes in chunks: a chunk's boxes are
first tested against every box already kept (one IoU matrix), and the greedy
order inside the chunk is resolved by iterating ``keep[j] = alive[j] and no kept
i < j overlaps j`` to its fixed point, which is the greedy answer (position
``t`` is final after ``t`` rounds; in practice a handful). The IoU is MMCV's
formula, operation for operation (``offset``, ``>`` threshold, the same
descending sort); tests compare the kept indices with MMCV's on random,
clustered, tied and degenerate boxes.

:class:`FirstKNMSRPNHead` is MMDetection's ``RPNHead`` with this NMS in its
post-processing, the one change; ``FastCPUOpsHook`` turns a model's
``RPNHead`` into it.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import empty_box_as, get_box_tensor, get_box_wh, scale_boxes
from mmengine.structures import InstanceData


def _iou(rows: torch.Tensor, row_areas: torch.Tensor, cols: torch.Tensor,
         col_areas: torch.Tensor, offset: int) -> torch.Tensor:
    """``(R, C)`` IoU, MMCV's ``nms`` formula: ``inter / (area_i + area_j - inter)``."""
    xx1 = torch.maximum(rows[:, None, 0], cols[None, :, 0])
    yy1 = torch.maximum(rows[:, None, 1], cols[None, :, 1])
    xx2 = torch.minimum(rows[:, None, 2], cols[None, :, 2])
    yy2 = torch.minimum(rows[:, None, 3], cols[None, :, 3])
    w = (xx2 - xx1 + offset).clamp(min=0)
    h = (yy2 - yy1 + offset).clamp(min=0)
    inter = w * h
    return inter / (row_areas[:, None] + col_areas[None, :] - inter)


def nms_first_k(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                max_num: int = -1, offset: int = 0, chunk: int = 256) -> torch.Tensor:
    """Indices into ``boxes`` of the first ``max_num`` boxes greedy NMS keeps, in
    descending score order: ``mmcv.ops.nms(boxes, scores, iou_threshold,
    offset)[1][:max_num]`` (all of them for ``max_num <= 0``)."""
    if boxes.numel() == 0:
        return boxes.new_zeros(0, dtype=torch.long)
    with torch.no_grad():
        order = scores.sort(0, descending=True)[1]  # the call MMCV's CPU kernel makes
        ranked = boxes[order]
        areas = (ranked[:, 2] - ranked[:, 0] + offset) * (ranked[:, 3] - ranked[:, 1] + offset)
        limit = max_num if max_num > 0 else ranked.size(0)
        kept_parts = []
        kept_count = 0
        for start in range(0, ranked.size(0), chunk):
            stop = min(start + chunk, ranked.size(0))
            cand, cand_areas = ranked[start:stop], areas[start:stop]
            alive = torch.ones(stop - start, dtype=torch.bool, device=boxes.device)
            if kept_count:
                kept_idx = torch.cat(kept_parts)
                alive &= ~(_iou(ranked[kept_idx], areas[kept_idx], cand, cand_areas,
                                offset) > iou_threshold).any(0)
            # overlaps[i, j]: candidate i (higher score) would suppress j
            overlaps = (_iou(cand, cand_areas, cand, cand_areas, offset)
                        > iou_threshold).triu_(1)
            keep = alive
            for _ in range(stop - start):
                settled = alive & ~(overlaps & keep[:, None]).any(0)
                if torch.equal(settled, keep):
                    break
                keep = settled
            new = keep.nonzero(as_tuple=False).squeeze(1) + start
            kept_parts.append(new)
            kept_count += new.numel()
            if kept_count >= limit:
                break
        return order[torch.cat(kept_parts)[:limit]]


def _mmcv_batched_nms_cut(boxes, scores, idxs, nms_cfg, limit):
    from mmcv.ops import batched_nms
    dets, keep = batched_nms(boxes, scores, idxs, nms_cfg)
    return (dets[:limit], keep[:limit]) if limit > 0 else (dets, keep)


def batched_nms_first_k(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                        nms_cfg: dict, max_num: int = -1) -> Tuple[torch.Tensor, torch.Tensor]:
    """MMCV's ``batched_nms(boxes, scores, idxs, nms_cfg)`` cut to ``max_num``:
    returns ``(dets, keep)``, ``dets`` rows ``[x1, y1, x2, y2, score]``.

    Plain greedy NMS (``type='nms'``, ``iou_threshold`` or MMCV's old
    ``iou_thr``, ``offset``, ``class_agnostic``, ``max_num``) below MMCV's
    ``split_thr`` stops early on CPU; anything else (soft-NMS, a score
    threshold, a callable ``type``, inputs MMCV splits class by class, CUDA
    tensors) is MMCV's own call, cut afterwards."""
    cfg = dict(nms_cfg)
    cfg_max = cfg.pop('max_num', -1)
    limits = [n for n in (max_num, cfg_max) if n > 0]
    limit = min(limits) if limits else -1
    class_agnostic = cfg.pop('class_agnostic', False)
    split_thr = cfg.pop('split_thr', 10000)
    nms_type = cfg.pop('type', 'nms')
    if 'iou_thr' in cfg and 'iou_threshold' not in cfg:  # MMCV's deprecated name
        cfg['iou_threshold'] = cfg.pop('iou_thr')
    iou_threshold = cfg.pop('iou_threshold', None)
    offset = cfg.pop('offset', 0)
    if (nms_type != 'nms' or iou_threshold is None or cfg or offset not in (0, 1)
            or boxes.size(0) >= split_thr or boxes.device.type != 'cpu'):
        # At or above split_thr MMCV runs class by class (even when class_agnostic)
        # and re-sorts the union by score: take its answer rather than a near copy.
        # On CUDA, MMCV's kernel is the fast one.
        return _mmcv_batched_nms_cut(boxes, scores, idxs, nms_cfg, limit)
    if class_agnostic or boxes.numel() == 0:
        shifted = boxes
    else:
        # MMCV's offsets: every class in its own coordinate range
        max_coordinate = boxes.max()
        offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        shifted = boxes + offsets[:, None]
    keep = nms_first_k(shifted, scores, float(iou_threshold), limit, int(offset))
    return torch.cat([boxes[keep], scores[keep][:, None]], -1), keep


@MODELS.register_module()
class FirstKNMSRPNHead(RPNHead):
    """``RPNHead`` whose proposal NMS stops at ``max_per_img`` kept boxes (same
    proposals); NMS settings other than plain greedy NMS run MMCV's call."""

    def _bbox_post_process(self, results: InstanceData, cfg, rescale: bool = False,
                           with_nms: bool = True,
                           img_meta: Optional[dict] = None) -> InstanceData:
        # MMDetection 3.3's RPNHead._bbox_post_process with batched_nms_first_k
        assert with_nms, '`with_nms` must be True in RPNHead'
        if rescale:
            assert img_meta.get('scale_factor') is not None
            scale_factor = [1 / s for s in img_meta['scale_factor']]
            results.bboxes = scale_boxes(results.bboxes, scale_factor)
        if cfg.get('min_bbox_size', -1) >= 0:
            w, h = get_box_wh(results.bboxes)
            valid_mask = (w > cfg.min_bbox_size) & (h > cfg.min_bbox_size)
            if not valid_mask.all():
                results = results[valid_mask]
        if results.bboxes.numel() > 0:
            bboxes = get_box_tensor(results.bboxes)
            det_bboxes, keep_idxs = batched_nms_first_k(
                bboxes, results.scores, results.level_ids, cfg.nms, max_num=cfg.max_per_img)
            results = results[keep_idxs]
            results.scores = det_bboxes[:, -1]
            results = results[:cfg.max_per_img]
            results.labels = results.scores.new_zeros(len(results), dtype=torch.long)
            del results.level_ids
        else:
            results_ = InstanceData()
            results_.bboxes = empty_box_as(results.bboxes)
            results_.scores = results.scores.new_zeros(0)
            results_.labels = results.scores.new_zeros(0)
            results = results_
        return results


def use_first_k_nms(model) -> int:
    """Turn every plain ``RPNHead`` inside ``model`` into a :class:`FirstKNMSRPNHead`
    (the class only: weights, settings and hooks stay); returns how many.
    Subclasses of ``RPNHead`` are left alone: their post-processing may differ."""
    changed = 0
    for module in model.modules():
        if type(module) is RPNHead:
            module.__class__ = FirstKNMSRPNHead
            changed += 1
    return changed
