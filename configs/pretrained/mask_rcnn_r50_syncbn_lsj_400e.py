# ImageNet-pretrained twin of configs/scratch/mask_rcnn_r50_syncbn_lsj_400e.py: the same
# model, data and schedule, the backbone initialized from torchvision's ImageNet
# ResNet-50 (trained with BN) and fine-tuned with its SyncBN layers in training mode,
# the stem and res2 frozen (frozen_stages=1). MMDetection loads the weights when
# training starts.
# No pretrained LSJ reference exists: detectron2's new_baselines train from scratch
# (init_checkpoint='', freeze_at=0). Frozen as every other pretrained twin (FREEZE_AT 2,
# the default of Detectron and detectron2 for an ImageNet backbone), so that all twins
# are fine-tuned the same way.
# No published result for this exact setting (configs/pretrained/README.md lists the
# ones that exist).
_base_ = '../scratch/mask_rcnn_r50_syncbn_lsj_400e.py'

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
