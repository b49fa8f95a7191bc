# Faster R-CNN, ResNet-50-FPN, from scratch with SyncBN in the places GN takes in
# faster_rcnn_r50_fpn_gn.py: backbone, FPN, 4conv1fc box head; none in the RPN
# head (see mask_rcnn_r50_fpn_syncbn.py for why SyncBN needs several processes).
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            fc_out_channels=1024,
            norm_cfg=norm_cfg)))
