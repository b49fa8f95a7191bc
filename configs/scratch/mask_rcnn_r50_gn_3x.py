# Mask R-CNN, ResNet-50-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 3x schedule (270k iterations at batch 16, LR x0.1 at 210k and 250k).
# Paper (COCO val2017): 39.5 box AP.
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_gn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/scratch_3x.py',
    '../_base_/scratch_runtime.py',
]
