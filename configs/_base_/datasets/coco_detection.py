# COCO detection (boxes only) as in the paper, for Faster R-CNN: MMDetection's
# own dataset config (see coco_instance.py).
_base_ = 'mmdet::_base_/datasets/coco_detection.py'
