# Mask R-CNN, ResNet-101-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 4x schedule (360k iterations at batch 16, LR x0.1 at 300k and 340k).
# Reference results: the paper (arXiv 1811.08883), R50/R101 GN Mask R-CNN schedule
# comparison (numbers: configs/scratch/README.md).
_base_ = './mask_rcnn_r50_gn_4x.py'

model = dict(backbone=dict(depth=101))
