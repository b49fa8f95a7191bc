# Faster R-CNN, ResNet-50-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 6x schedule (540k iterations at batch 16, LR x0.1 at 480k and 520k).
# Reference results: MMDetection
# configs/scratch/faster-rcnn_r50-scratch_fpn_gn-all_6x_coco.py (numbers:
# configs/scratch/README.md).
_base_ = [
    '../_base_/models/faster_rcnn_r50_fpn_gn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/scratch_6x.py',
    '../_base_/scratch_runtime.py',
]
