"""Keep the precision-critical parts of a detector in fp32 under autocast.

bf16 autocast runs convolutions and matmuls in bfloat16, whose 8-bit mantissa
is plenty for activations but not for everything a detector computes after
its heads. Two places in MMDetection 3.3 / MMCV 2.1 break or lose accuracy:

* **RoI feature extraction.** ``SingleRoIExtractor.forward`` casts the RoIs
  to the features' dtype (``rois.type_as(feats[0])``). With bf16 features, box
  corners at x >= 1024 are rounded to multiples of 8 px, and MMCV 2.1's
  ``RoIAlign`` has no bf16 kernel at all (its CUDA kernel dispatches fp32,
  fp64 and fp16; on CPU: ``"ROIAlign_forward" not implemented for
  'BFloat16'``). Features reach it in bf16 wherever the last layer before it
  runs in bf16 under autocast (BN/SyncBN FPNs on CUDA, any FPN on CPU; CUDA
  autocast runs GroupNorm in fp32). The pre-hook below hands the extractor
  fp32 features, so RoIs stay fp32 and RoIAlign runs its fp32 kernel.
* **Head outputs.** Losses, target assignment, box decoding and NMS read the
  heads' outputs. In bf16, ``L1Loss`` (``abs(pred - target)``) and the
  weighted loss reductions would run at 3 significant digits, and MMCV 2.1's
  ``nms`` reads fp32 boxes only (its CPU kernel fp32 scores too:
  ``expected scalar type Float but found BFloat16``). The forward hook below
  casts every head's outputs to fp32, so everything downstream of the
  network -- losses included -- runs in fp32.

Heads are recognised by MMDetection's loss interface: dense heads (RPN,
RetinaNet, FCOS, ...) define ``loss_by_feat``, RoI heads (``BBoxHead`` and
its 4conv1fc/2fc subclasses, ``FCNMaskHead``, ``MaskIoUHead``, cascade stages
included) define ``loss_and_target``. RoI extractors are instances of
``BaseRoIExtractor``. Both hooks do nothing unless autocast is on, so a model
with islands installed trains and evaluates exactly as before in fp32.
"""
from __future__ import annotations

from typing import Any, List

import torch
import torch.nn as nn
from torch.utils.hooks import RemovableHandle

#: Attribute set on a model once its islands are installed (idempotence).
_INSTALLED_FLAG = '_mmscratch_fp32_islands'


def map_tensors(obj: Any, fn) -> Any:
    """``obj`` with ``fn`` applied to every tensor in it.

    Walks tuples (named ones too), lists and dicts; other objects (data
    samples, None) come back unchanged.
    """
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, '_fields'):
        return type(obj)._make(map_tensors(item, fn) for item in obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(item, fn) for item in obj)
    if isinstance(obj, dict):
        return {key: map_tensors(value, fn) for key, value in obj.items()}
    return obj


def _tensor_to_fp32(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.is_floating_point() and tensor.dtype != torch.float32:
        return tensor.float()
    return tensor


def to_fp32(obj: Any) -> Any:
    """``obj`` with every floating-point tensor in it cast to fp32 (integer
    tensors, data samples and None unchanged; see :func:`map_tensors`)."""
    return map_tensors(obj, _tensor_to_fp32)


def _autocast_enabled() -> bool:
    return any(torch.is_autocast_enabled(device_type)
               for device_type in ('cpu', 'cuda'))


def _cast_inputs(module, args, kwargs):
    if not _autocast_enabled():
        return None
    return to_fp32(args), to_fp32(kwargs)


def _cast_outputs(module, args, output):
    if not _autocast_enabled():
        return None
    return to_fp32(output)


#: Methods through which MMDetection's heads turn their outputs into losses.
HEAD_LOSS_METHODS = ('loss_by_feat', 'loss_and_target')


def is_head(module: nn.Module) -> bool:
    """A module whose outputs feed losses and post-processing."""
    return any(callable(getattr(module, name, None)) for name in HEAD_LOSS_METHODS)


def is_roi_extractor(module: nn.Module) -> bool:
    from mmdet.models.roi_heads.roi_extractors import BaseRoIExtractor
    return isinstance(module, BaseRoIExtractor)


def install_fp32_islands(model: nn.Module) -> List[RemovableHandle]:
    """Register the fp32 hooks on ``model``'s heads and RoI extractors.

    Idempotent: a second call on the same model registers nothing and
    returns ``[]``. Returns the hook handles (``handle.remove()`` undoes one).
    """
    if getattr(model, _INSTALLED_FLAG, False):
        return []
    handles = []
    for module in model.modules():
        if is_roi_extractor(module):
            handles.append(module.register_forward_pre_hook(
                _cast_inputs, with_kwargs=True))
        elif is_head(module):
            handles.append(module.register_forward_hook(_cast_outputs))
    setattr(model, _INSTALLED_FLAG, True)
    return handles
