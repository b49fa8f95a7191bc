# COCO instance segmentation with large-scale jitter (detectron2 new_baselines,
# MMDetection strong_baselines): each training image is resized by a random
# factor in [0.1, 2.0] of 1024 and cropped (or padded, by the model's
# BatchFixedSizePad) to 1024x1024, then flipped. Testing is the usual 800.
# Iteration-based like every mmscratch config, so no RepeatDataset.
_base_ = './coco_instance.py'

image_size = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_type='absolute_range',
        crop_size=image_size,
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
# LSJ crops are square and fixed-size: grouping by aspect ratio buys nothing.
train_dataloader = dict(
    batch_sampler=None,
    dataset=dict(pipeline=train_pipeline))
