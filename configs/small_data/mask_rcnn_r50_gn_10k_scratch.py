# Mask R-CNN R50-FPN GN from random initialization on a random 10,000-image subset of
# COCO train2017 (instances_train2017_10k.json, tools/make_subset.py): the paper's
# 10k small-data regime. The model, runtime and SGD settings are those of
# configs/scratch/mask_rcnn_r50_gn_*.py (same bases; a test holds the models equal); the
# data is the subset, and the regime's hyper-parameters come from
# ./_base_/small_data_recipe.py: scale augmentation [512, 800], LR 0.04, LR decay
# factor 0.02, best checkpoint kept; ./_base_/small_data_runtime.py: 24 evaluation points.
# The configs inherit the bases rather than configs/scratch/*.py itself because MMEngine
# refuses two bases that both define the dataset.
# Reference results: the paper (arXiv 1811.08883), training with fewer COCO images
# (numbers: configs/small_data/README.md).
# Length from the paper: scratch is best at 220k iterations on 10k images.
# LR x0.02 at 160k and 200k (the paper's rule: the last 60k and the last 20k).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_gn.py',
    '../_base_/datasets/coco_instance_10k.py',
    '../_base_/schedules/scratch_1x.py',
    './_base_/small_data_runtime.py',
    './_base_/small_data_recipe.py',
]

train_dataloader = dict(dataset=dict(pipeline=_base_.small_data.train_pipeline))
optim_wrapper = dict(optimizer=dict(lr=_base_.small_data.lr))
train_cfg = dict(
    schedule=dict(_delete_=True, total_iters=220000, drops_before_end=(60000, 20000),
                  gamma=_base_.small_data.gamma),
    # the loop validates only at the end; ConvergenceCurveHook evaluates the rest
    val_interval=220000)
default_hooks = dict(checkpoint=_base_.small_data.checkpoint)
