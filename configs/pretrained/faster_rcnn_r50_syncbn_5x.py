# ImageNet-pretrained twin of configs/scratch/faster_rcnn_r50_syncbn_5x.py: the same
# model, data and schedule, the backbone initialized from torchvision's ImageNet
# ResNet-50 (trained with BN) and fine-tuned with its SyncBN layers in training mode,
# the stem and res2 frozen (frozen_stages=1). MMDetection loads the weights when
# training starts.
# That is what the reference config froze: detectron2's
# configs/Misc/mask_rcnn_R_50_FPN_3x_syncbn.yaml keeps MODEL.BACKBONE.FREEZE_AT at its
# default 2. In the frozen stages SyncBN normalizes with the ImageNet statistics, as
# detectron2's FrozenBN does there.
# No published result for this exact setting (configs/pretrained/README.md lists the
# ones that exist).
_base_ = '../scratch/faster_rcnn_r50_syncbn_5x.py'

model = dict(
    backbone=dict(
        # stem + res2 frozen, as the reference configs (header)
        frozen_stages=1,
        # replaces the scratch twin's init_cfg=None (random initialization)
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='torchvision://resnet50')))
# The scratch twin's hooks without ScratchGuardHook, which would refuse the ImageNet
# weights (pretrained_custom_hooks: configs/_base_/scratch_runtime.py).
custom_hooks = _base_.pretrained_custom_hooks
