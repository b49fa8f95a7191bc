# Mask R-CNN, ResNet-50-FPN, from scratch with SyncBN: the model of
# mask_rcnn_r50_fpn_gn.py with BN synchronized across all GPUs in GN's places
# (backbone stem and blocks, FPN, 4conv1fc box head, mask head; none in the RPN
# head). The batch statistics cover the 16 images of 8 GPUs, as in the paper; on
# one process MMEngine would silently turn SyncBN into per-GPU BN over 2 images,
# so SyncBNCheckHook (scratch_runtime.py) refuses that.
# torch's SyncBatchNorm is used in the heads too: it now handles the empty RoI
# batches that made MMDetection fall back to MMCV's MMSyncBN there.
_base_ = './mask_rcnn_r50_fpn_gn.py'

# _delete_: replace GN's norm_cfg instead of merging into it (it would keep num_groups)
norm_cfg = dict(_delete_=True, type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(bbox_head=dict(norm_cfg=norm_cfg), mask_head=dict(norm_cfg=norm_cfg)))
