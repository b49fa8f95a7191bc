# Detectron's initialization of the ResNet and FPN convs, as an opt-in switch.
#
# mmscratch's configs initialize the backbone convs as MMDetection and detectron2
# do: Kaiming (MSRA) normal, mode fan_out (std sqrt(2 / fan_out)). The paper's runs
# used Detectron, where the GN ResNet's convs (ConvGN in detectron/modeling/
# detector.py, called by ResNet.py's basic_gn_stem / bottleneck_gn_transformation /
# basic_gn_shortcut) pass no weight_init, so Caffe2's default XavierFill applied:
# uniform, variance 1 / fan_in. Detectron's GN FPN asks for XavierFill explicitly
# (detectron/modeling/FPN.py); MMDetection's FPN is Glorot-uniform Xavier, the same
# variance only where fan_in = fan_out. MMEngine's Caffe2XavierInit is XavierFill.
# The heads match already: their convs are Kaiming normal fan_out (Detectron's
# MSRAFill), the RPN and the predictors Gaussian 0.01 / 0.001.
#
# Use: add this file to _base_ and point the backbone and the FPN at it, e.g.
#   _base_ = ['../scratch/mask_rcnn_r50_gn_3x.py', '../_base_/inits/detectron_init.py']
#   model = dict(backbone=dict(init_cfg=_base_.detectron_backbone_init),
#                neck=dict(init_cfg=_base_.detectron_neck_init))
# (configs/scratch/mask_rcnn_r50_gn_3x_detectron_init.py does exactly this.)
detectron_backbone_init = [
    dict(type='Caffe2Xavier', layer='Conv2d'),
    # what MMDetection's ResNet does to its norm layers when init_cfg is None: scale
    # 1, shift 0 (Detectron's GN init too)
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
]
detectron_neck_init = dict(type='Caffe2Xavier', layer='Conv2d')
