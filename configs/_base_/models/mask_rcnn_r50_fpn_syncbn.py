# Mask R-CNN, ResNet-50-FPN, from scratch with SyncBN: the model of
# mask_rcnn_r50_fpn_gn.py with BN synchronized across all GPUs in GN's places
# (backbone stem and blocks, FPN, 4conv1fc box head, mask head; none in the RPN
# head). The batch statistics cover the 16 images of 8 GPUs, as in the paper; on
# one process MMEngine would silently turn SyncBN into per-GPU BN over 2 images,
# so SyncBNCheckHook (scratch_runtime.py) refuses that.
# torch's SyncBatchNorm is used in the heads too: it now handles the empty RoI
# batches that made MMDetection fall back to MMCV's MMSyncBN there.
# (Written out rather than derived from the GN file: merging SyncBN's norm_cfg
# into GN's would keep GN's num_groups.)
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

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
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
