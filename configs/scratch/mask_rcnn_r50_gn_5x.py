# Mask R-CNN, ResNet-50-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 5x schedule (450k iterations at batch 16, LR x0.1 at 390k and 430k).
# Reference results: the paper (arXiv 1811.08883), R50/R101 GN Mask R-CNN schedule
# comparison (numbers: configs/scratch/README.md).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_gn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/scratch_5x.py',
    '../_base_/scratch_runtime.py',
]
