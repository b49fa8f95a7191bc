"""DetMaskTTAModel: MMDetection's box merging, plus masks merged across the views.

The demo model (random weights, score threshold 0 so that every image has
detections) on generated images. What is checked is behaviour that breaks if
the merge is wrong: one unflipped view reproduces the plain test exactly; two
identical views too (the average is normalized); a flipped view reproduces
the plain prediction on the flipped image, flipped back by hand (boxes and
masks); the multi-scale pipeline runs every view, twice (boxes, then masks);
a model without masks is DetTTAModel's result unchanged.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmscratch.models import DetMaskTTAModel
from mmscratch.testing import build_model
from mmscratch.utils.config_loading import load_config
from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset

META = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
        'flip_direction')
TTA_CFG = dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)


def resize(size):
    return dict(type='Resize', scale=(size, size), keep_ratio=True)


def flip(prob):
    return dict(type='RandomFlip', prob=prob)


PACK = dict(type='PackDetInputs', meta_keys=META)
LOAD = dict(type='LoadImageFromFile')


def tta_pipeline(*transform_lists):
    return [LOAD, dict(type='TestTimeAug', transforms=[*transform_lists, [PACK]])]


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = make_tiny_dataset(tmp_path_factory.mktemp('tta') / 'shapes', num_train=1, num_val=2)
    return sorted(str(p) for p in (Path(root) / 'val').glob('*.png'))[:2]


@pytest.fixture(scope='module')
def detector():
    init_default_scope('mmdet')
    cfg = load_config(DEMO_CONFIG).model
    cfg.test_cfg.rcnn.score_thr = 0.0  # untrained: keep its (low-score) detections
    cfg.test_cfg.rcnn.max_per_img = 20  # enough to compare, few masks to paste on a CPU
    torch.manual_seed(0)
    model = build_model(cfg, scale_down=False)
    model.init_weights()
    return model.eval()


def batch(pipeline, paths):
    compose = Compose(pipeline)
    return pseudo_collate([compose(dict(img_path=p, img_id=i)) for i, p in enumerate(paths)])


def tta(detector):
    return DetMaskTTAModel(module=detector, tta_cfg=TTA_CFG)


def assert_same_predictions(ours, theirs, box_atol=1e-3, max_mask_diff=1e-3):
    assert len(ours.bboxes) == len(theirs.bboxes) > 0
    order_a, order_b = ours.scores.argsort(descending=True), theirs.scores.argsort(descending=True)
    torch.testing.assert_close(ours.scores[order_a], theirs.scores[order_b], atol=1e-5, rtol=0)
    assert torch.equal(ours.labels[order_a], theirs.labels[order_b])
    torch.testing.assert_close(ours.bboxes[order_a], theirs.bboxes[order_b], atol=box_atol,
                               rtol=0)
    masks_a, masks_b = ours.masks[order_a], theirs.masks[order_b]
    assert masks_a.shape == masks_b.shape and masks_a.dtype == masks_b.dtype == torch.bool
    assert masks_a.any(), 'the comparison would be empty'
    differing = (masks_a != masks_b).float().mean().item()
    assert differing <= max_mask_diff, differing


def test_one_unflipped_view_is_the_plain_test(detector, images):
    plain = detector.test_step(batch([LOAD, resize(128), flip(0.), PACK], images))
    merged = tta(detector).test_step(batch(tta_pipeline([resize(128)], [flip(0.)]), images))
    for ours, theirs in zip(merged, plain):
        assert_same_predictions(ours.pred_instances, theirs.pred_instances)


def test_two_identical_views_average_to_the_same(detector, images):
    plain = detector.test_step(batch([LOAD, resize(128), flip(0.), PACK], images))
    model = tta(detector)
    merged = model.test_step(batch(tta_pipeline([resize(128), resize(128)], [flip(0.)]), images))
    assert model.last_num_views == 2
    for ours, theirs in zip(merged, plain):
        # a sum of two views not divided by two would turn every p >= 0.25 into a mask pixel
        assert_same_predictions(ours.pred_instances, theirs.pred_instances)


def test_a_flipped_view_is_flipped_back(detector, images):
    from mmdet.structures.bbox import bbox_flip
    on_flipped = detector.test_step(batch([LOAD, resize(128), flip(1.), PACK], images))
    merged = tta(detector).test_step(batch(tta_pipeline([resize(128)], [flip(1.)]), images))
    for ours, theirs in zip(merged, on_flipped):
        expected = theirs.pred_instances
        expected.bboxes = bbox_flip(expected.bboxes, theirs.ori_shape, 'horizontal')
        expected.masks = expected.masks.flip(-1)
        assert_same_predictions(ours.pred_instances, expected)
        # and not by accident: unflipped, the masks would disagree
        assert not torch.equal(ours.pred_instances.masks.flip(-1), ours.pred_instances.masks)


def test_every_view_runs_for_boxes_and_for_masks(detector, images, monkeypatch):
    cfg = load_config(DEMO_CONFIG)
    seen = []
    original = type(detector).extract_feat

    def recording(self, inputs):
        seen.append(tuple(inputs.shape[-2:]))
        return original(self, inputs)

    monkeypatch.setattr(type(detector), 'extract_feat', recording)
    model = DetMaskTTAModel(module=detector, tta_cfg=cfg.tta_model.tta_cfg)
    merged = model.test_step(batch(cfg.tta_pipeline, images[:1]))
    assert model.last_num_views == 6  # 3 scales x (flipped, not flipped)
    # the demo images are 128 px squares: the views are 96, 128 and 160 px (padded to 32)
    assert sorted(set(seen)) == [(96, 96), (128, 128), (160, 160)]
    assert len(seen) == 2 * 6  # boxes pass, masks pass
    for sample in merged:
        pred = sample.pred_instances
        assert 0 < len(pred.bboxes) <= cfg.tta_model.tta_cfg.max_per_img
        assert pred.masks.shape == (len(pred.bboxes), *sample.ori_shape)
        assert torch.all(pred.scores[:-1] >= pred.scores[1:])


def test_a_model_without_masks_is_merged_exactly_as_det_tta_model(images):
    from mmdet.models.test_time_augs import DetTTAModel
    init_default_scope('mmdet')
    cfg = load_config('configs/scratch/faster_rcnn_r50_gn_ms_9x.py').model
    cfg.test_cfg.rcnn.score_thr = 0.0
    cfg.test_cfg.rcnn.max_per_img = 20
    cfg.test_cfg.rpn.update(nms_pre=200, max_per_img=50)  # 80 classes x 1000 RoIs: slow NMS
    torch.manual_seed(0)
    model = build_model(cfg)  # scaled down
    model.init_weights()
    model.eval()
    data = batch(tta_pipeline([resize(96), resize(128)], [flip(1.), flip(0.)]), images[:1])
    ours = DetMaskTTAModel(module=model, tta_cfg=TTA_CFG).test_step(data)
    theirs = DetTTAModel(module=model, tta_cfg=ConfigDict(TTA_CFG)).test_step(data)
    for a, b in zip(ours, theirs):
        assert len(a.pred_instances) > 0 and 'masks' not in a.pred_instances
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a.pred_instances[key], b.pred_instances[key])


def test_bad_tta_cfg_is_refused(detector):
    with pytest.raises(ValueError, match='tta_cfg'):
        DetMaskTTAModel(module=detector, tta_cfg=dict(nms=dict(type='nms')))


def test_cascade_masks_average_the_stages_as_its_plain_test(images):
    """Cascade R-CNN: three mask heads, averaged per view (MMDetection's Cascade test)."""
    init_default_scope('mmdet')
    cfg = load_config('configs/scratch/cascade_mask_rcnn_r50_gn_ms_9x.py').model
    cfg.test_cfg.rcnn.update(score_thr=0.0, max_per_img=20)
    cfg.test_cfg.rpn.update(nms_pre=200, max_per_img=50)
    torch.manual_seed(0)
    model = build_model(cfg)  # scaled down
    model.init_weights()
    model.eval()
    assert len(model.roi_head.mask_head) == 3
    plain = model.test_step(batch([LOAD, resize(128), flip(0.), PACK], images[:1]))
    merged = tta(model).test_step(batch(tta_pipeline([resize(128)], [flip(0.)]), images[:1]))
    assert_same_predictions(merged[0].pred_instances, plain[0].pred_instances)
