"""``BF16OptimWrapper``: bf16 autocast training on GPU or CPU, losses in fp32.

When it runs: MMEngine's models call ``optim_wrapper.optim_context(model)``
around the forward pass and loss of every ``train_step``; this wrapper
enters ``torch.autocast(device_type, dtype=torch.bfloat16)`` there, for the
device the model's parameters are on. Validation and testing are untouched
(they run in fp32).

What it changes, compared with MMEngine's ``AmpOptimWrapper(dtype='bfloat16')``:

* **No loss scaling.** bf16 has fp32's exponent range, so gradients neither
  underflow nor overflow the way fp16's do. ``AmpOptimWrapper`` still runs a
  ``GradScaler`` (an inf/nan check of every gradient, every step); this
  wrapper steps like the plain ``OptimWrapper`` (gradient clipping included).
* **fp32 islands.** On the first forward it installs
  :func:`mmscratch.models.install_fp32_islands` on the model: RoI extractors
  get fp32 features (MMCV 2.1's RoIAlign has no bf16 kernel, and MMDetection
  would otherwise round the RoI coordinates to bf16) and every head's outputs
  are cast to fp32, so losses, targets and NMS run in fp32.
* **Runs on CPU.** ``AmpOptimWrapper`` refuses to build without a GPU; this
  one trains on CPU too (bf16 kernels on CPUs with AVX512-BF16/AMX), which
  is how the accuracy check of this lever is run on the CPU machine.

Checkpoints hold the optimizer state only, as ``OptimWrapper``'s do; a
checkpoint written by ``AmpOptimWrapper`` loads too (its loss-scaler state is
dropped, there is nothing to scale).

Use it by changing the optim wrapper's type: ``tools/train.py CONFIG --bf16``,
``--cfg-options optim_wrapper.type=BF16OptimWrapper``, or a config such as
``configs/scratch/mask_rcnn_r50_gn_6x_bf16.py``.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmdet.registry import OPTIM_WRAPPERS

from mmscratch.models.fp32_islands import install_fp32_islands


def model_device_type(model: nn.Module) -> str:
    """'cuda', 'cpu', ... : where the model's parameters live."""
    for param in model.parameters():
        return param.device.type
    return 'cpu'


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """Optimizer wrapper that runs each training forward under bf16 autocast.

    Args:
        fp32_islands (bool): install the fp32 hooks on heads and RoI
            extractors (see module docstring). Default True; turning it off
            is only for measuring what the islands cost.
        **kwargs: passed to :class:`mmengine.optim.OptimWrapper`.
    """

    cast_dtype = torch.bfloat16

    def __init__(self, fp32_islands: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.fp32_islands = fp32_islands

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self.fp32_islands:
            install_fp32_islands(model)  # once per model (idempotent)
        with super().optim_context(model), torch.autocast(
                device_type=model_device_type(model), dtype=self.cast_dtype):
            yield

    def load_state_dict(self, state_dict: dict) -> None:
        # accept checkpoints of MMEngine's AmpOptimWrapper (bf16 or fp16 runs)
        state_dict = dict(state_dict)
        state_dict.pop('loss_scaler', None)
        super().load_state_dict(state_dict)
