"""First-k NMS keeps exactly what MMCV's batched_nms keeps, cut to k; the RPN
head with it proposes the same boxes as MMDetection's."""
import pytest
import torch
from mmcv.ops import batched_nms
from mmdet.models.dense_heads import RPNHead

from mmscratch.benchmark.synthetic import proposal_candidates
from mmscratch.models import FirstKNMSRPNHead, batched_nms_first_k, nms_first_k, use_first_k_nms
from mmscratch.testing import build_model_from_config

DEMO = 'configs/demo/mask_rcnn_gn_shapes.py'


def _case(kind, num, seed):
    g = torch.Generator().manual_seed(seed)
    # clustered: RPN-like, many boxes around few objects
    boxes, scores, levels = proposal_candidates(num, g, objects=6 if kind == 'clustered' else 0)
    if kind == 'ties':
        scores = (scores * 8).round() / 8
    if kind == 'degenerate':
        boxes[:40] = boxes[:1]                        # duplicates
        boxes[40:60, 2:] = boxes[40:60, :2]           # zero area: IoU 0/0, never suppressed
    return boxes, scores, levels


@pytest.mark.parametrize('kind', ['uniform', 'clustered', 'ties', 'degenerate'])
@pytest.mark.parametrize('threshold', [0.3, 0.7])
@pytest.mark.parametrize('max_num', [1, 300, 1000, -1])
def test_same_kept_boxes_as_mmcv(kind, threshold, max_num):
    for seed, num in ((0, 2000), (1, 257), (2, 5)):
        boxes, scores, levels = _case(kind, num, seed)
        cfg = dict(type='nms', iou_threshold=threshold)
        dets, keep = batched_nms(boxes, scores, levels, cfg)
        if max_num > 0:
            dets, keep = dets[:max_num], keep[:max_num]
        ours_dets, ours_keep = batched_nms_first_k(boxes, scores, levels, cfg, max_num=max_num)
        assert torch.equal(ours_keep, keep), (kind, seed)
        assert torch.equal(ours_dets, dets)


def test_class_agnostic_offset_and_cfg_max_num():
    from mmcv.ops import nms
    boxes, scores, levels = _case('clustered', 800, 4)
    for cfg in (dict(type='nms', iou_threshold=0.5, class_agnostic=True),
                dict(type='nms', iou_threshold=0.5, max_num=50),
                dict(type='nms', iou_threshold=0.5, offset=1)):
        dets, keep = batched_nms(boxes, scores, levels, cfg)
        ours_dets, ours_keep = batched_nms_first_k(boxes, scores, levels, cfg)
        assert torch.equal(ours_keep, keep) and torch.equal(ours_dets, dets), cfg
    assert torch.equal(nms_first_k(boxes, scores, 0.6, 30), nms(boxes, scores, 0.6)[1][:30])


@pytest.mark.parametrize('cfg', [
    # at split_thr MMCV goes class by class, class_agnostic or not (its own quirk)
    dict(type='nms', iou_threshold=0.5, split_thr=100),
    dict(type='nms', iou_threshold=0.5, split_thr=100, class_agnostic=True),
    # settings first-k does not implement: MMCV's call, then cut
    dict(type='soft_nms', iou_threshold=0.5),
    dict(type='nms', iou_threshold=0.5, score_threshold=0.3),
    # MMCV's deprecated name for the threshold
    dict(type='nms', iou_thr=0.5),
])
def test_every_setting_mmcv_takes_gives_its_answer(cfg):
    boxes, scores, levels = _case('clustered', 300, 5)
    dets, keep = batched_nms(boxes, scores, levels, cfg)
    ours_dets, ours_keep = batched_nms_first_k(boxes, scores, levels, cfg, max_num=40)
    assert torch.equal(ours_keep, keep[:40]) and torch.equal(ours_dets, dets[:40])


def test_empty_input():
    assert nms_first_k(torch.zeros(0, 4), torch.zeros(0), 0.5, 10).numel() == 0
    dets, keep = batched_nms_first_k(torch.zeros(0, 4), torch.zeros(0),
                                     torch.zeros(0, dtype=torch.long),
                                     dict(type='nms', iou_threshold=0.5), 10)
    assert dets.shape == (0, 5) and keep.numel() == 0


def test_rpn_head_proposes_the_same_boxes():
    from mmscratch.benchmark.synthetic import make_train_batch
    torch.manual_seed(0)
    model = build_model_from_config(DEMO, scale_down=False).eval()
    batch = make_train_batch(batch_size=2, image_size=(128, 128), num_instances=3,
                             num_classes=5, seed=0)
    data = model.data_preprocessor(batch, False)
    feats = model.extract_feat(data['inputs'])
    metas = [s.metainfo for s in data['data_samples']]
    stock = model.rpn_head.predict(feats, data['data_samples'], rescale=False)
    keys = set(model.state_dict())
    assert use_first_k_nms(model) == 1 and use_first_k_nms(model) == 0
    assert type(model.rpn_head) is FirstKNMSRPNHead and set(model.state_dict()) == keys
    ours = model.rpn_head.predict(feats, data['data_samples'], rescale=False)
    assert len(metas) == len(stock) == len(ours)
    for a, b in zip(ours, stock):
        assert len(a) == len(b) == model.test_cfg.rpn.max_per_img
        assert torch.equal(a.bboxes, b.bboxes) and torch.equal(a.scores, b.scores)
        assert torch.equal(a.labels, b.labels)


def test_only_plain_rpn_heads_are_converted():
    class CustomRPN(RPNHead):
        pass
    holder = torch.nn.ModuleList([CustomRPN(in_channels=8, anchor_generator=dict(
        type='AnchorGenerator', scales=[8], ratios=[1.0], strides=[4]))])
    assert use_first_k_nms(holder) == 0 and type(holder[0]) is CustomRPN
