# Mask R-CNN, ResNet-50-FPN, SyncBN everywhere, from random initialization, with the
# modern recipe peers report best from scratch (detectron2 new_baselines, MMDetection
# strong_baselines): large-scale jitter at 1024, a 2-conv RPN head, batch 64, LR 0.1,
# weight decay 4e-5, mixed precision, 400 epochs (737,500 iterations at batch 64).
# Reference results: detectron2 configs/new_baselines/mask_rcnn_R_50_FPN_400ep_LSJ.py
# (numbers: configs/scratch/README.md).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_syncbn_lsj.py',
    '../_base_/datasets/coco_instance_lsj.py',
    '../_base_/schedules/lsj_400e.py',
    '../_base_/scratch_runtime.py',
]
