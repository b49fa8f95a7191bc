"""``ChannelsLastHook``: train the network in NHWC (``torch.channels_last``).

When it runs: ``before_train`` (once, after checkpoint loading/resume and before
the first iteration) and, through a forward pre-hook it registers then, at
every forward of the backbone.

What it changes: the memory layout, not the math. The model's 4-D tensors
(conv weights and their gradients, and optimizer states created after this
point) are converted to channels_last, and the backbone's input images are
made channels_last, so every convolution -- and GN/BN between them, which keep
their input's layout -- runs on NHWC tensors. Tensor-core convolutions on
recent GPUs and oneDNN convolutions on CPUs are NHWC-native; NCHW tensors are
transposed around each of them otherwise. Values are the same up to
floating-point summation order (tested); checkpoints store plain tensors and
load into NCHW or NHWC models alike.

Measured effect (README, "Performance"): on CPU the demo's training step runs
faster with it; the GPU figure is measured by ``tools/gpu_check.sh
channels_last``. Under DDP the conversion happens after MMEngine wrapped the
model; PyTorch's reducer then copies gradients whose strides differ from its
buckets (a warning, correct results).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS


def _to_channels_last(module, args):
    return tuple(a.contiguous(memory_format=torch.channels_last)
                 if isinstance(a, torch.Tensor) and a.dim() == 4 else a for a in args)


def convert_to_channels_last(model: nn.Module) -> nn.Module:
    """Model weights and the backbone's inputs in NHWC; returns the model.

    Idempotent: the input pre-hook is registered once.
    """
    model.to(memory_format=torch.channels_last)
    backbone = getattr(model, 'backbone', None)
    if backbone is not None and not getattr(backbone, '_mmscratch_channels_last', False):
        backbone.register_forward_pre_hook(_to_channels_last)
        backbone._mmscratch_channels_last = True
    return model


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model to channels_last before training (see module doc)."""

    priority = 'VERY_HIGH'  # before hooks that snapshot the model

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        convert_to_channels_last(model)
        runner.logger.info('ChannelsLastHook: model and backbone inputs in channels_last')
