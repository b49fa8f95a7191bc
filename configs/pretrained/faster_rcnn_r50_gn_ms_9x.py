# ImageNet-pretrained twin of configs/scratch/faster_rcnn_r50_gn_ms_9x.py: the same
# model, data and schedule, the backbone initialized from Detectron's ImageNet GN
# ResNet-50 and fine-tuned with its GN layers in training mode, the stem and res2 frozen
# (frozen_stages=1). MMDetection loads the weights when training starts.
# That is what the reference configs froze: Detectron's
# configs/04_2018_gn_baselines/e2e_mask_rcnn_R-{50,101}-FPN_{2x,3x}_gn.yaml, whose
# results are the paper's pretrained 2x/3x numbers, leave TRAIN.FREEZE_AT at its default
# 2 (only the scratch_* yamls set 0), and MMDetection's configs/gn/ use frozen_stages=1.
# No published result for this exact setting (configs/pretrained/README.md lists the
# ones that exist).
_base_ = '../scratch/faster_rcnn_r50_gn_ms_9x.py'

model = dict(
    # Detectron's GN ResNet-50 was trained on BGR images minus the mean, not
    # divided by the std: feed it the same.
    data_preprocessor=dict(
        mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        # stem + res2 frozen, as the reference configs (header)
        frozen_stages=1,
        # replaces the scratch twin's init_cfg=None (random initialization)
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='open-mmlab://detectron/resnet50_gn')))
# The scratch twin's hooks without ScratchGuardHook, which would refuse the ImageNet
# weights (pretrained_custom_hooks: configs/_base_/scratch_runtime.py).
custom_hooks = _base_.pretrained_custom_hooks
