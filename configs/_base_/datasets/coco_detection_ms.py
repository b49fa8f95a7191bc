# coco_detection.py with the paper's train-time scale augmentation (its enhanced
# baselines): the shorter side is drawn uniformly from [640, 800] (longer side
# <= 1333) for every training image. Testing is unchanged (800, no TTA).
_base_ = './coco_detection.py'

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
