# The demo with mmscratch's CPU ops (FastCPUOpsHook; tools/train.py --fast-cpu-ops):
# RoIAlign as matrix products and an RPN NMS that stops at the 300 proposals it
# returns, in place of MMCV 2.1's single-threaded CPU kernels. Same function (tests
# compare both ops with MMCV's), same model, data, schedule and seed as
# mask_rcnn_gn_shapes.py; the accuracy check trains both with bf16:
#   python tools/lever_check.py configs/demo/mask_rcnn_gn_shapes.py \
#       --lever-config configs/demo/mask_rcnn_gn_shapes_cpu_ops.py \
#       --cfg-options optim_wrapper.type=BF16OptimWrapper --seeds 0 1 ...
_base_ = './mask_rcnn_gn_shapes.py'

custom_hooks = _base_.custom_hooks + [dict(type='FastCPUOpsHook')]
