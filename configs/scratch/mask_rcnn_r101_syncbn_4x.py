# Mask R-CNN, ResNet-101-FPN, SyncBN everywhere, from random initialization;
# the paper's 4x schedule (360k iterations at batch 16, LR x0.1 at 300k and 340k).
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = './mask_rcnn_r50_syncbn_4x.py'

model = dict(backbone=dict(depth=101))
