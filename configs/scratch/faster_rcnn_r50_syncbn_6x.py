# Faster R-CNN, ResNet-50-FPN, SyncBN everywhere, from random initialization;
# the paper's 6x schedule (540k iterations at batch 16, LR x0.1 at 480k and 520k).
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = [
    '../_base_/models/faster_rcnn_r50_fpn_syncbn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/scratch_6x.py',
    '../_base_/scratch_runtime.py',
]
