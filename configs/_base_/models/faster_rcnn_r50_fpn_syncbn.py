# Faster R-CNN, ResNet-50-FPN, from scratch with SyncBN in the places GN takes in
# faster_rcnn_r50_fpn_gn.py: backbone, FPN, 4conv1fc box head; none in the RPN
# head (see mask_rcnn_r50_fpn_syncbn.py for why SyncBN needs several processes).
_base_ = './faster_rcnn_r50_fpn_gn.py'

# _delete_: replace GN's norm_cfg instead of merging into it (it would keep num_groups)
norm_cfg = dict(_delete_=True, type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(bbox_head=dict(norm_cfg=norm_cfg)))
