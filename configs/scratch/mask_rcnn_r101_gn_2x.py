# Mask R-CNN, ResNet-101-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 2x schedule (180k iterations at batch 16, LR x0.1 at 120k and 160k).
# Paper (COCO val2017): 38.2 box AP.
_base_ = './mask_rcnn_r50_gn_2x.py'

model = dict(backbone=dict(depth=101))
