# Faster R-CNN, ResNet-101-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 9x schedule (810k iterations at batch 16, LR x0.1 at 750k and 790k),
# with train-time scale augmentation (shorter side from [640, 800]): the paper's
# enhanced baseline.
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = './faster_rcnn_r50_gn_ms_9x.py'

model = dict(backbone=dict(depth=101))
