# Mask R-CNN, ResNet-50-FPN, SyncBN everywhere, from random initialization, with the
# modern recipe peers report best from scratch (detectron2 new_baselines, MMDetection
# strong_baselines): large-scale jitter at 1024, a 2-conv RPN head, batch 64, LR 0.1,
# weight decay 4e-5, mixed precision, 200 epochs (368,750 iterations at batch 64).
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_syncbn_lsj.py',
    '../_base_/datasets/coco_instance_lsj.py',
    '../_base_/schedules/lsj_200e.py',
    '../_base_/scratch_runtime.py',
]
