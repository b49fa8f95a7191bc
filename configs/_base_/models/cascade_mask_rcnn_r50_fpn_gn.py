# Cascade Mask R-CNN, ResNet-50-FPN, from scratch with GN (the paper's Cascade
# variant of its enhanced baseline): GN in the backbone, FPN, the box head of
# each of the three stages (4conv1fc) and the mask head; none in the RPN head.
# Each stage keeps MMDetection's own settings (IoU thresholds, box-coder stds),
# only its head type and norm change.
_base_ = 'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py'

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=[
            dict(stage_head, type='Shared4Conv1FCBBoxHead', conv_out_channels=256,
                 fc_out_channels=1024, norm_cfg=norm_cfg)
            for stage_head in _base_.model.roi_head.bbox_head
        ],
        mask_head=dict(norm_cfg=norm_cfg)))
