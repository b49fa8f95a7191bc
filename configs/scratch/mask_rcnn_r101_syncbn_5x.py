# Mask R-CNN, ResNet-101-FPN, SyncBN everywhere, from random initialization;
# the paper's 5x schedule (450k iterations at batch 16, LR x0.1 at 390k and 430k).
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = './mask_rcnn_r50_syncbn_5x.py'

model = dict(backbone=dict(depth=101))
