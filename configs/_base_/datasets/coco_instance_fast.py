# COCO instance segmentation with a faster training pipeline: the same
# images, sizes, flip and batch as coco_instance.py (MMDetection's), but
# masks stay polygons (LoadAnnotations(poly2mask=False)).
#
# Why: the stock pipeline rasterises every instance to a full-image bitmap
# (7 x 1333x800 bytes an image on COCO), then resizes and flips each bitmap,
# which costs more than decoding the JPEG. Polygons are resized and flipped
# as coordinates, and Mask R-CNN's mask targets crop_and_resize them per RoI
# to 28x28 (PolygonMasks.crop_and_resize), so the same targets come out at a
# fraction of the cost. Measured by `tools/benchmark.py --data-only` in
# docs/performance.md.
_base_ = './coco_instance.py'

backend_args = None
train_pipeline = [
    # cv2 decoding (MMCV's fastest bundled backend), uint8 kept: to_float32
    # would quadruple the bytes every later transform touches.
    dict(type='LoadImageFromFile', to_float32=False, imdecode_backend='cv2',
         backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
