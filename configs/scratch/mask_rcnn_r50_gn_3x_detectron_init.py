# mask_rcnn_r50_gn_3x with Detectron's initialization of the ResNet and FPN convs
# (Caffe2's XavierFill: uniform, variance 1 / fan_in) instead of MMDetection's Kaiming
# normal fan_out: the recipe exactly as Detectron's
# configs/04_2018_gn_baselines/scratch_e2e_mask_rcnn_R-50-FPN_3x_gn.yaml ran it (see
# configs/_base_/inits/detectron_init.py). Any config gets the same with the two lines
# below. Reference result: configs/scratch/README.md.
_base_ = ['./mask_rcnn_r50_gn_3x.py', '../_base_/inits/detectron_init.py']

model = dict(
    backbone=dict(init_cfg=_base_.detectron_backbone_init),
    neck=dict(init_cfg=_base_.detectron_neck_init))
