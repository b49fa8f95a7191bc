# Mask R-CNN, ResNet-50-FPN, SyncBN everywhere, from random initialization;
# the paper's 4x schedule (360k iterations at batch 16, LR x0.1 at 300k and 340k).
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_syncbn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/scratch_4x.py',
    '../_base_/scratch_runtime.py',
]
