# Mask R-CNN, ResNet-50-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 9x schedule (810k iterations at batch 16, LR x0.1 at 750k and 790k),
# with train-time scale augmentation (shorter side from [640, 800]): the paper's
# enhanced baseline.
# Reference results: detectron2 configs/Misc/scratch_mask_rcnn_R_50_FPN_9x_gn.yaml
# (numbers: configs/scratch/README.md).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_gn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/scratch_9x.py',
    '../_base_/scratch_runtime.py',
    '../_base_/coco_tta.py',  # tools/test.py --tta: the paper's "+ test aug"
]
