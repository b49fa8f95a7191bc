# Mask R-CNN, ResNet-50-FPN, SyncBN everywhere, from random initialization, with the
# modern recipe peers report best from scratch (detectron2 new_baselines, MMDetection
# strong_baselines): large-scale jitter at 1024, a 2-conv RPN head, batch 64, LR 0.1,
# weight decay 4e-5, mixed precision, 100 epochs (184,375 iterations at batch 64).
# Reference results: detectron2 configs/new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py;
# MMDetection
# configs/strong_baselines/mask-rcnn_r50-caffe_fpn_rpn-2conv_4conv1fc_syncbn-all_lsj-100e_coco.py
# (numbers: configs/scratch/README.md).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_syncbn_lsj.py',
    '../_base_/datasets/coco_instance_lsj.py',
    '../_base_/schedules/lsj_100e.py',
    '../_base_/scratch_runtime.py',
]
