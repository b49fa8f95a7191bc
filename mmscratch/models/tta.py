"""Test-time augmentation that merges instance masks too: ``DetMaskTTAModel``.

MMDetection 3.3's ``DetTTAModel`` merges the boxes of the augmented views
(un-flip, concatenate, NMS) and stops on instance masks ("TTA of instance
segmentation does not support now"): a Mask R-CNN cannot be evaluated with
it, and dropping the masks would report a box-only result as if it were the
model's. ``DetMaskTTAModel`` keeps ``DetTTAModel``'s box merging unchanged and
adds the masks the way Detectron's test-time augmentation computed them
(``TEST.MASK_AUG`` with ``HEUR: SOFT_AVG``, detectron/core/test.py) and
detectron2's ``GeneralizedRCNNWithTTA`` still does:

1. every view predicts boxes (MMDetection's own RPN and box head, rescaled to
   the original image);
2. ``DetTTAModel`` merges them: boxes of flipped views are flipped back, all
   views are concatenated, class-wise NMS, ``max_per_img`` kept;
3. for the *merged* boxes, every view predicts mask probabilities (the boxes
   mapped into the view: flipped, scaled), the probabilities of flipped views
   are flipped back, and the views are averaged (Cascade R-CNN: each view is
   first the mean over its stages' mask heads, as MMDetection's Cascade test
   does);
4. the averaged probabilities are pasted into the original image once and
   thresholded at the head's ``mask_thr_binary``.

So every box gets one mask, computed from every view. Step 3 runs the
backbone a second time per view (as Detectron did) instead of keeping the
features of all views in memory.

A detector without a mask head is handled exactly as ``DetTTAModel`` does.
Supported RoI heads: ``StandardRoIHead`` and ``CascadeRoIHead`` (and their
subclasses that keep their mask path); anything else is refused by name.
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi, bbox_flip
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = ['DetMaskTTAModel']


def _split_views(data) -> list:
    """One batch per view, as ``BaseTTAModel.test_step`` splits them."""
    if isinstance(data, dict):
        num_views = len(data[next(iter(data))])
        return [{key: value[i] for key, value in data.items()} for i in range(num_views)]
    if isinstance(data, (tuple, list)):
        return [[part[i] for part in data] for i in range(len(data[0]))]
    raise TypeError(f'TTA data must be a dict, tuple or list, got {type(data).__name__}')


def unflip_masks(masks: Tensor, meta: dict) -> Tensor:
    """Mask probabilities ``(N, C, h, w)`` of a flipped view, in unflipped RoI order."""
    if not meta.get('flip', False):
        return masks
    direction = meta.get('flip_direction')
    if direction == 'horizontal':
        return masks.flip(-1)
    if direction == 'vertical':
        return masks.flip(-2)
    if direction == 'diagonal':
        return masks.flip(-1).flip(-2)
    raise ValueError(f'unknown flip_direction {direction!r} in a TTA view')


def boxes_in_view(boxes: Tensor, meta: dict) -> Tensor:
    """Boxes of the original image mapped into an augmented view (flip, then scale)."""
    if meta.get('flip', False):
        boxes = bbox_flip(boxes, meta['ori_shape'], meta['flip_direction'])
    return boxes * boxes.new_tensor(meta['scale_factor']).repeat((1, 2))


@MODELS.register_module()
class DetMaskTTAModel(DetTTAModel):
    """``DetTTAModel`` with instance masks merged across views (see the module doc).

    Args:
        tta_cfg: as ``DetTTAModel``'s: ``nms`` (the merge NMS, e.g.
            ``dict(type='nms', iou_threshold=0.5)``) and ``max_per_img``.
        **kwargs: ``module`` (the detector) and ``data_preprocessor``, as
            every ``BaseTTAModel``.
    """

    def __init__(self, tta_cfg=None, **kwargs):
        if not isinstance(tta_cfg, dict) or 'nms' not in tta_cfg \
                or 'max_per_img' not in tta_cfg:
            raise ValueError("DetMaskTTAModel needs tta_cfg=dict(nms=dict(type='nms', "
                             f'iou_threshold=...), max_per_img=...), got {tta_cfg!r}')
        super().__init__(tta_cfg=ConfigDict(tta_cfg), **kwargs)
        roi_head = getattr(self.module, 'roi_head', None)
        self.with_mask = bool(getattr(roi_head, 'with_mask', False))
        if self.with_mask and not isinstance(roi_head, (StandardRoIHead, CascadeRoIHead)):
            raise ValueError(
                f'DetMaskTTAModel merges masks of StandardRoIHead and CascadeRoIHead models; '
                f'{type(roi_head).__name__} has another mask path')
        #: views seen by the last test_step (for logs and tests)
        self.last_num_views = 0

    # ------------------------------------------------------------------ steps
    def test_step(self, data) -> List[DetDataSample]:
        if not self.with_mask:
            return super().test_step(data)
        views = _split_views(data)
        self.last_num_views = len(views)
        with torch.no_grad():
            per_view = [self._predict_boxes(view) for view in views]
            merged = [self._merge_single_sample(list(samples)) for samples in zip(*per_view)]
            self._predict_masks(views, merged)
        return merged

    def _features(self, view):
        detector = self.module
        batch = detector.data_preprocessor(view, False)
        return detector.extract_feat(batch['inputs']), batch['data_samples']

    def _predict_boxes(self, view) -> List[DetDataSample]:
        """Boxes of one view in original-image coordinates (still flipped if the view is)."""
        detector = self.module
        feats, samples = self._features(view)
        if samples[0].get('proposals', None) is None:
            proposals = detector.rpn_head.predict(feats, samples, rescale=False)
        else:
            proposals = [sample.proposals for sample in samples]
        metas = [sample.metainfo for sample in samples]
        results = detector.roi_head.predict_bbox(
            feats, metas, proposals, rcnn_test_cfg=detector.roi_head.test_cfg, rescale=False)
        for result, meta in zip(results, metas):
            # what the mask head's rescale does in a plain test: divide by the scale factor
            result.bboxes = result.bboxes / result.bboxes.new_tensor(
                meta['scale_factor']).repeat((1, 2))
        return detector.add_pred_to_datasample(samples, results)

    def _mask_probabilities(self, feats, rois: Tensor) -> Tensor:
        roi_head = self.module.roi_head
        if isinstance(roi_head, CascadeRoIHead):
            stages = [roi_head._mask_forward(stage, feats, rois)['mask_preds'].sigmoid()
                      for stage in range(roi_head.num_stages)]
            return torch.stack(stages).mean(dim=0)
        return roi_head._mask_forward(feats, rois)['mask_preds'].sigmoid()

    def _mask_head(self) -> nn.Module:
        head = self.module.roi_head.mask_head
        return head[-1] if isinstance(head, nn.ModuleList) else head

    def _predict_masks(self, views, merged: List[DetDataSample]) -> None:
        """Soft-average the mask probabilities of the merged boxes over the views, paste."""
        num_boxes = [len(sample.pred_instances) for sample in merged]
        sums: List = [None] * len(merged)
        if sum(num_boxes):
            for view in views:
                feats, samples = self._features(view)
                metas = [sample.metainfo for sample in samples]
                boxes = [boxes_in_view(sample.pred_instances.bboxes, meta)
                         for sample, meta in zip(merged, metas)]
                probs = self._mask_probabilities(feats, bbox2roi(boxes)).split(num_boxes, 0)
                for i, (prob, meta) in enumerate(zip(probs, metas)):
                    prob = unflip_masks(prob, meta)
                    sums[i] = prob if sums[i] is None else sums[i] + prob
        mask_head = self._mask_head()
        test_cfg = self.module.roi_head.test_cfg
        for i, sample in enumerate(merged):
            instances = InstanceData(bboxes=sample.pred_instances.bboxes.clone(),
                                     scores=sample.pred_instances.scores,
                                     labels=sample.pred_instances.labels)
            if sums[i] is None:  # no box in this image
                probs = instances.bboxes.new_zeros((0, 1, 1, 1))
            else:
                probs = sums[i] / len(views)
            # boxes and probabilities are in original-image coordinates already
            meta = dict(ori_shape=sample.metainfo['ori_shape'], scale_factor=(1.0, 1.0))
            sample.pred_instances = mask_head.predict_by_feat(
                mask_preds=(probs,), results_list=[instances], batch_img_metas=[meta],
                rcnn_test_cfg=test_cfg, rescale=True, activate_map=True)[0]
