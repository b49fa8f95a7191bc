# Faster R-CNN, ResNet-101-FPN, SyncBN everywhere, from random initialization;
# the paper's 3x schedule (270k iterations at batch 16, LR x0.1 at 210k and 250k).
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = './faster_rcnn_r50_syncbn_3x.py'

model = dict(backbone=dict(depth=101))
