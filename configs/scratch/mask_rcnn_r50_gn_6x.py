# Mask R-CNN, ResNet-50-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 6x schedule (540k iterations at batch 16, LR x0.1 at 480k and 520k).
# Paper (COCO val2017): 41.3 box AP / 36.6 mask AP.
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_gn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/scratch_6x.py',
    '../_base_/scratch_runtime.py',
]
