# Mask R-CNN, ResNet-101-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 3x schedule (270k iterations at batch 16, LR x0.1 at 210k and 250k).
# Reference results: the paper (arXiv 1811.08883), R50/R101 GN Mask R-CNN schedule
# comparison; Detectron
# configs/04_2018_gn_baselines/scratch_e2e_mask_rcnn_R-101-FPN_3x_gn.yaml (numbers:
# configs/scratch/README.md).
_base_ = './mask_rcnn_r50_gn_3x.py'

model = dict(backbone=dict(depth=101))
