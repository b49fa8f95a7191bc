# Cascade Mask R-CNN, ResNet-50-FPN, GN (32 groups) everywhere, from random initialization;
# the paper's 9x schedule (810k iterations at batch 16, LR x0.1 at 750k and 790k),
# with train-time scale augmentation (shorter side from [640, 800]): the paper's
# enhanced baseline.
# No published result for this exact setting (configs/scratch/README.md lists the ones
# that exist).
_base_ = [
    '../_base_/models/cascade_mask_rcnn_r50_fpn_gn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/scratch_9x.py',
    '../_base_/scratch_runtime.py',
    '../_base_/coco_tta.py',  # tools/test.py --tta: the paper's "+ test aug"
]
