# The demo with both training-step levers on (README, "Performance"): the forward
# pass under bf16 autocast with losses, RoIAlign and NMS in fp32 (BF16OptimWrapper),
# and NHWC tensors (ChannelsLastHook), as the GPU check measures them. On the 2-core
# CPU the pair is 1.10x the demo but bf16 alone 1.28x (the RoI extractors' NCHW copies
# cost more than NHWC convolutions save there): on CPUs train with --bf16 only.
# Same model, data, schedule and seed as mask_rcnn_gn_shapes.py; the accuracy check
# compares the two:
#   python tools/lever_check.py configs/demo/mask_rcnn_gn_shapes.py \
#       --lever-config configs/demo/mask_rcnn_gn_shapes_fast.py --seeds 0 1 ...
_base_ = './mask_rcnn_gn_shapes.py'

optim_wrapper = dict(type='BF16OptimWrapper')
custom_hooks = _base_.custom_hooks + [dict(type='ChannelsLastHook')]
