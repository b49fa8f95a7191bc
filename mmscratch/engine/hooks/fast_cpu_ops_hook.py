"""``FastCPUOpsHook``: two MMCV CPU kernels replaced by equivalent batched tensor code.

When it runs: ``before_run``, once, before training, validation or testing
(and before any checkpoint is loaded: neither op has parameters or buffers, so
checkpoints are the same with and without the hook).

What it changes, and why: MMCV 2.1's CPU kernels for two of Mask R-CNN's ops
are single-threaded scalar loops. On the 2-core demo, RoIAlign's backward and
the RPN's proposal NMS took about 80 of the 306 ms of a bf16 training step;
with the hook the step is 1.34x faster (docs/performance.md, "Training-step
levers", with the command).

* ``roi_align``: every ``mmcv.ops.RoIAlign`` in average mode becomes a
  :class:`~mmscratch.models.SeparableRoIAlign` with the same settings: the
  same function as two matrix products per image (forward and backward).
* ``rpn_nms``: every plain ``RPNHead`` becomes a
  :class:`~mmscratch.models.FirstKNMSRPNHead`: greedy NMS that stops once it
  has kept the ``max_per_img`` proposals the head returns, the same proposals.

Both are the same computation up to floating-point summation order (RoIAlign)
or exactly (NMS): tests compare them with MMCV's kernels, forward and
backward. Where they would not be faster they hand the call to MMCV's own
kernel: CUDA tensors, feature maps over 4096 pixels (the products break even
with MMCV's loop at 96x96), NMS settings other than plain greedy NMS, inputs at
or above MMCV's ``split_thr``. So the hook is harmless on GPU, and gains on CPU
with small inputs such as the demo's.
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from mmscratch.models.first_k_nms import use_first_k_nms
from mmscratch.models.separable_roi_align import use_separable_roi_align


def use_fast_cpu_ops(model, roi_align: bool = True, rpn_nms: bool = True) -> dict:
    """Apply the replacements to ``model`` in place; returns how many of each."""
    return dict(roi_align=use_separable_roi_align(model) if roi_align else 0,
                rpn_nms=use_first_k_nms(model) if rpn_nms else 0)


@HOOKS.register_module()
class FastCPUOpsHook(Hook):
    """Replace MMCV's CPU RoIAlign and RPN NMS by equivalent batched code (module doc).

    Args:
        roi_align: RoIAlign layers -> ``SeparableRoIAlign``.
        rpn_nms: ``RPNHead`` -> ``FirstKNMSRPNHead``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, roi_align: bool = True, rpn_nms: bool = True) -> None:
        self.roi_align = bool(roi_align)
        self.rpn_nms = bool(rpn_nms)

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        counts = use_fast_cpu_ops(model, self.roi_align, self.rpn_nms)
        runner.logger.info(f"FastCPUOpsHook: {counts['roi_align']} RoIAlign layers as matrix "
                           f"products, {counts['rpn_nms']} RPN heads with first-k NMS")
