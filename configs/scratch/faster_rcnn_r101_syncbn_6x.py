# Faster R-CNN, ResNet-101-FPN, SyncBN everywhere, from random initialization;
# the paper's 6x schedule (540k iterations at batch 16, LR x0.1 at 480k and 520k).
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = './faster_rcnn_r50_syncbn_6x.py'

model = dict(backbone=dict(depth=101))
