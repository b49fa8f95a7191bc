# Mask R-CNN, ResNet-101-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 6x schedule (540k iterations at batch 16, LR x0.1 at 480k and 520k).
# Paper (COCO val2017): 42.7 box AP / 37.6 mask AP.
_base_ = './mask_rcnn_r50_gn_6x.py'

model = dict(backbone=dict(depth=101))
