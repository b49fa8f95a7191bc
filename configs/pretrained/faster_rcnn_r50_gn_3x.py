# ImageNet-pretrained twin of configs/scratch/faster_rcnn_r50_gn_3x.py: the same model,
# data and schedule, the backbone initialized from Detectron's ImageNet GN ResNet-50 and
# fine-tuned with its GN layers in training mode, nothing frozen (the paper's pretrained
# baseline). MMDetection loads the weights when training starts.
# No number in the paper for this exact setting.
_base_ = '../scratch/faster_rcnn_r50_gn_3x.py'

model = dict(
    # Detectron's GN ResNet-50 was trained on BGR images minus the mean, not
    # divided by the std: feed it the same.
    data_preprocessor=dict(
        mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        # replaces the scratch twin's init_cfg=None (random initialization)
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='open-mmlab://detectron/resnet50_gn')))
# The scratch twin's hooks without ScratchGuardHook, which would refuse the ImageNet
# weights (pretrained_custom_hooks: configs/_base_/scratch_runtime.py).
custom_hooks = _base_.pretrained_custom_hooks
