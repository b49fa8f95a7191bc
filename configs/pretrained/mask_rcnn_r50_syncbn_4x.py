# ImageNet-pretrained twin of configs/scratch/mask_rcnn_r50_syncbn_4x.py: the same
# model, data and schedule, the backbone initialized from torchvision's ImageNet
# ResNet-50 (trained with BN) and fine-tuned with its SyncBN layers in training mode,
# nothing frozen (the paper's pretrained baseline). MMDetection loads the weights when
# training starts.
# No number in the paper for this exact setting.
_base_ = '../scratch/mask_rcnn_r50_syncbn_4x.py'

model = dict(
    backbone=dict(
        # replaces the scratch twin's init_cfg=None (random initialization)
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='torchvision://resnet50')))
# The scratch twin's hooks without ScratchGuardHook, which would refuse the ImageNet
# weights (pretrained_custom_hooks: configs/_base_/scratch_runtime.py).
custom_hooks = _base_.pretrained_custom_hooks
