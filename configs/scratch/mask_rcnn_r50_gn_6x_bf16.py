# mask_rcnn_r50_gn_6x with the forward pass under bf16 autocast (losses, RoIAlign
# and NMS in fp32: mmscratch.engine.optimizers.BF16OptimWrapper). Any config gets
# the same with `tools/train.py CONFIG --bf16`. Accuracy check on the demo and
# measured speed: README.md, "Performance".
_base_ = './mask_rcnn_r50_gn_6x.py'
optim_wrapper = dict(type='BF16OptimWrapper')
