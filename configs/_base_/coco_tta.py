# Test-time augmentation of the paper's enhanced baselines ("+ test aug"), read by
# tools/test.py --tta through MMDetection's own keys (tta_model wraps the model,
# tta_pipeline replaces the test pipeline). The paper does not list its test scales;
# these are Detectron's (configs/12_2017_baselines/
# e2e_mask_rcnn_X-152-32x8d-FPN-IN5k_1.44x.yaml, TEST.BBOX_AUG and TEST.MASK_AUG): the
# test scale, shorter side 800 (longer <= 1333), plus shorter sides 400-1200 in steps
# of 100 (longer <= 2000), each as is and flipped horizontally: 18 views per image.
# DetMaskTTAModel (mmscratch.models.tta) merges the boxes as MMDetection's DetTTAModel
# does (flip back, NMS 0.5 over all views, 100 per image) and averages the masks of the
# merged boxes over the views (Detectron's MASK_AUG HEUR SOFT_AVG); MMDetection 3.3's
# DetTTAModel alone stops on masks. Differences from Detectron, documented in
# docs/configs.md: Detectron merged the views' raw detections before its per-class NMS
# and refined the boxes by voting (BBOX_VOTE, IoU 0.9); here the views' final
# detections are merged by NMS.
tta_model = dict(
    type='DetMaskTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
tta_scales = [(1333, 800)] + [(2000, s) for s in (400, 500, 600, 700, 900, 1000, 1100, 1200)]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=s, keep_ratio=True) for s in tta_scales],
            [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
            [dict(type='LoadAnnotations', with_bbox=True)],
            [dict(type='PackDetInputs',
                  meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                             'flip', 'flip_direction'))],
        ]),
]
