# Mask R-CNN, ResNet-50-FPN, as the paper trains it from scratch with GroupNorm.
#
# GN (32 groups) replaces every BN: the backbone's stem and every block, the FPN,
# the box head -- 4conv1fc, four 3x3 convs of 256 channels with GN and one fc of
# 1024 (Shared4Conv1FCBBoxHead) -- and the 4-conv mask head. The RPN head has no
# norm layer, as in the paper (and in MMDetection's own scratch configs).
# Random initialization, no frozen stage, norm layers in training mode: every
# parameter is trained. The convs start as MMDetection's ResNet does when init_cfg
# is None (and detectron2): Kaiming (MSRA) normal, fan_out. That is not what the
# paper's Detectron runs did: their GN ResNet convs got Caffe2's default XavierFill
# (uniform, variance 1 / fan_in); configs/_base_/inits/detectron_init.py switches
# to it (docs/configs.md, "Fidelity"). zero_init_residual=False as in MMDetection's scratch
# configs: the GN layers' scales start at 1 everywhere.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

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
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            fc_out_channels=1024,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
