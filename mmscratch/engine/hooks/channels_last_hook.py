"""``ChannelsLastHook``: train the network in NHWC (``torch.channels_last``).

When it runs: ``before_train`` (once, after checkpoint loading/resume and before
the first iteration); the forward pre-hooks it registers then run at every
forward of the backbone and of the RoI extractors, in training and evaluation.

What it changes: the memory layout, not the math. The model's 4-D tensors
(conv weights and their gradients, and optimizer states created after this
point) are converted to channels_last, and the backbone's input images are
made channels_last, so every convolution -- and GN/BN between them, which keep
their input's layout -- runs on NHWC tensors. Tensor-core convolutions on
recent GPUs and oneDNN convolutions on CPUs are NHWC-native; NCHW tensors are
transposed around each of them otherwise.

The RoI extractors get their feature maps back in NCHW: MMCV 2.1's RoIAlign
indexes its input as contiguous NCHW memory without checking, and silently
returns wrong features for an NHWC input. (The accuracy check of this lever
found it: the demo stopped learning, bbox AP 1.6 instead of 50; the test
now compares RoI features, not only backbone features.) Other MMCV ops that
read raw NCHW memory (deformable convolutions, ...) are not covered.

Values are otherwise the same up to floating-point summation order (tested);
checkpoints store plain tensors and load into NCHW or NHWC models alike.
Measured effect: README, "Performance" (none on the CPU demo; the GPU figure
is ``tools/gpu_check.sh channels_last``). Under DDP the conversion happens
after MMEngine wrapped the model; PyTorch's reducer then copies gradients
whose strides differ from its buckets (a warning, correct results).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from mmscratch.models.fp32_islands import is_roi_extractor, map_tensors

#: Set on a converted model (idempotence).
_CONVERTED_FLAG = '_mmscratch_channels_last'


def _nhwc(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dim() != 4:
        return tensor
    return tensor.contiguous(memory_format=torch.channels_last)


def _nchw(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.contiguous() if tensor.dim() == 4 else tensor


def _inputs_to_channels_last(module, args):
    return map_tensors(args, _nhwc)


def _inputs_to_nchw(module, args, kwargs):
    return map_tensors(args, _nchw), map_tensors(kwargs, _nchw)


def convert_to_channels_last(model: nn.Module) -> nn.Module:
    """Model weights and the backbone's inputs in NHWC, RoI extractors' inputs
    back in NCHW; returns the model. Idempotent: each pre-hook is registered once.
    """
    if getattr(model, _CONVERTED_FLAG, False):
        return model
    model.to(memory_format=torch.channels_last)
    backbone = getattr(model, 'backbone', None)
    if backbone is not None:
        backbone.register_forward_pre_hook(_inputs_to_channels_last)
    for module in model.modules():
        if is_roi_extractor(module):
            module.register_forward_pre_hook(_inputs_to_nchw, with_kwargs=True)
    setattr(model, _CONVERTED_FLAG, True)
    return model


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model to channels_last before training (see module doc)."""

    priority = 'VERY_HIGH'  # before hooks that snapshot the model

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        convert_to_channels_last(model)
        runner.logger.info('ChannelsLastHook: model and backbone inputs in channels_last')
