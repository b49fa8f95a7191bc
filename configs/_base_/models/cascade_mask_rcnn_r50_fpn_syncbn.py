# Cascade Mask R-CNN, ResNet-50-FPN, from scratch with SyncBN in the places GN
# takes in cascade_mask_rcnn_r50_fpn_gn.py: backbone, FPN, the 4conv1fc box head
# of each stage, mask head; none in the RPN head (see mask_rcnn_r50_fpn_syncbn.py).
_base_ = './cascade_mask_rcnn_r50_fpn_gn.py'

# _delete_: replace GN's norm_cfg instead of merging into it (it would keep num_groups)
norm_cfg = dict(_delete_=True, type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        # a list replaces the base's list whole: each stage keeps its settings
        bbox_head=[dict(stage_head, norm_cfg=dict(type='SyncBN', requires_grad=True))
                   for stage_head in _base_.model.roi_head.bbox_head],
        mask_head=dict(norm_cfg=norm_cfg)))
