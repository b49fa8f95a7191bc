# Mask R-CNN, ResNet-50-FPN, SyncBN everywhere as in mask_rcnn_r50_fpn_syncbn.py,
# with what the large-scale-jitter recipe adds (detectron2 new_baselines,
# MMDetection strong_baselines): a 2-conv RPN head, and every training batch
# padded to the fixed 1024x1024 crop of the LSJ pipeline.
_base_ = './mask_rcnn_r50_fpn_syncbn.py'

model = dict(
    data_preprocessor=dict(
        # test images are not padded to 1024; FPN needs multiples of 32
        pad_size_divisor=32,
        batch_augments=[dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)]),
    rpn_head=dict(num_convs=2))
