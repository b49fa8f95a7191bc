# Mask R-CNN, ResNet-101-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 6x schedule (540k iterations at batch 16, LR x0.1 at 480k and 520k).
# Reference results: the paper (arXiv 1811.08883), R50/R101 GN Mask R-CNN schedule
# comparison (numbers: configs/scratch/README.md).
_base_ = './mask_rcnn_r50_gn_6x.py'

model = dict(backbone=dict(depth=101))
