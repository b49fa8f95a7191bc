# COCO instance segmentation as in the paper: train2017, shorter side 800
# (longer <= 1333), horizontal flip only, 2 images per GPU; val2017 for
# validation, no test-time augmentation. MMDetection's own dataset config.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'
