# ImageNet-pretrained twin of ./mask_rcnn_r50_gn_35k_scratch.py: the same model, data
# and hyper-parameters (the paper grid-searched them on this model and reused them for
# scratch), the backbone initialized from Detectron's ImageNet GN ResNet-50 and fine-tuned
# with its GN layers in training mode and the stem and res2 frozen (frozen_stages=1), as
# in configs/pretrained/mask_rcnn_r50_gn_*.py, whose header names the reference configs
# (a test holds the two models equal).
# Reference results: the paper (arXiv 1811.08883), training with fewer COCO images
# (numbers: configs/small_data/README.md).
# Length not in the paper: 130k iterations, interpolated log-linearly in the number
# of images between the paper's 10k (60k) and full-COCO (3x = 270k) pretrained lengths.
# LR x0.02 at 70k and 110k (the paper's rule: the last 60k and the last 20k).
_base_ = './mask_rcnn_r50_gn_35k_scratch.py'

model = dict(
    # Detectron's GN ResNet-50 was trained on BGR images minus the mean, not divided by
    # the std: feed it the same.
    data_preprocessor=dict(
        mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        # stem + res2 frozen, as the reference configs (header)
        frozen_stages=1,
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='open-mmlab://detectron/resnet50_gn')))
train_cfg = dict(
    schedule=dict(total_iters=130000, drops_before_end=(60000, 20000)),
    val_interval=130000)
# no ScratchGuardHook: this twin loads ImageNet weights on purpose
custom_hooks = _base_.pretrained_custom_hooks
