"""``SeparableRoIAlign``: MMCV's RoIAlign (average mode) as two matrix products.

RoIAlign averages bilinear samples of a feature map on a regular grid inside
each RoI. Bilinear interpolation is separable (the weight of pixel ``(i, j)``
for a sample at ``(y, x)`` is ``wy(y, i) * wx(x, j)``, the out-of-map and
border rules included), and so is the grid, so for one RoI and one channel

    out = Ay @ F @ Ax^T

where ``Ay`` (pooled height x H) holds, for each output row, the mean over its
grid rows of their interpolation weights, and ``Ax`` (pooled width x W) the
same for columns. The matrices depend on the RoIs only (no gradient), and the
products and their gradients are dense matrix multiplications over all
channels at once.

Why it exists: MMCV 2.1's CPU kernel walks every (RoI, channel, bin, sample)
one scalar at a time, in one thread, forward and backward; on the 2-core demo
its backward was about 40 ms of a 306 ms training step
(docs/performance.md, "Training-step levers"). Same
function, same arguments (``output_size``, ``spatial_scale``,
``sampling_ratio`` with 0 for MMCV's adaptive grid, ``aligned``); for finite
fp32 and fp64 features only the floating-point summation order differs (tests
compare forward and backward with MMCV's kernel on random and edge-case RoIs).
``pool_mode='max'`` is not separable and is refused.

Where it is not MMCV's kernel, on purpose:

* Speed depends on the map, not only the RoIs: every RoI's products touch the
  whole map. It is faster up to 64x64 feature maps (the demo's are 32x32 and
  smaller) and breaks even at 96x96, so maps over 4096 pixels, and CUDA
  tensors, are handed to MMCV's kernel (:data:`MAX_MAP_PIXELS`).
* fp16/bf16 CPU features are interpolated in fp32 and returned in their dtype
  (MMCV's CPU kernel refuses bf16: above the cap they reach it as fp32);
  autocast is off inside.
* A non-finite value in a feature map spreads to every RoI of that image in
  its channel (``0 * inf`` in the products), where MMCV's kernel reads only
  the four neighbours of each sample. The RPN's convolutions read the whole
  map too, so the loss is non-finite either way (``DivergenceRecoveryHook``).

MMDetection's RoI extractors look ``roi_layer`` types up in ``mmcv.ops``
only, so a model gets it through :func:`use_separable_roi_align`, which
``FastCPUOpsHook`` (``tools/train.py --fast-cpu-ops``) calls.
"""
from __future__ import annotations

from typing import Tuple, Union

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair


def _axis_matrix(start: torch.Tensor, length: torch.Tensor, pooled: int, size: int,
                 sampling_ratio: int) -> torch.Tensor:
    """``(K, pooled, size)``: row ``p`` of RoI ``k`` averages the bilinear weights
    of that bin's grid samples along one axis, with MMCV's rules: a sample
    outside ``[-1, size]`` contributes nothing, one in ``[-1, 0]`` reads pixel
    0, one past ``size - 1`` reads pixel ``size - 1``."""
    num = start.numel()
    bin_size = length / pooled
    if sampling_ratio > 0:
        grid = torch.full_like(length, float(sampling_ratio))
    else:
        # MMCV: ceilf(roi_len / pooled), the ratio rounded to float32 first; may be <= 0
        grid = torch.ceil((length / pooled).float()).to(length.dtype)
    max_grid = max(int(grid.max().item()) if num else 1, 1)
    steps = torch.arange(max_grid, dtype=start.dtype, device=start.device)
    bins = torch.arange(pooled, dtype=start.dtype, device=start.device)
    safe_grid = grid.clamp(min=1)
    # (K, pooled, max_grid) sample coordinates; samples past a RoI's own grid are padding
    coord = (start[:, None, None] + bins[None, :, None] * bin_size[:, None, None]
             + (steps[None, None, :] + 0.5) * bin_size[:, None, None] / safe_grid[:, None, None])
    valid = (steps[None, None, :] < grid[:, None, None]) & (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0)
    low = coord.floor()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    coord = torch.where(at_edge, low, coord)
    frac = coord - low
    weight = valid.to(coord.dtype) / safe_grid[:, None, None]
    pixels = torch.arange(size, dtype=start.dtype, device=start.device)
    # (K, pooled, max_grid, size) one-hot rows, summed over the grid: no scatter, deterministic
    matrix = (((pixels == low[..., None]).to(coord.dtype) * (1 - frac)[..., None]
               + (pixels == high[..., None]).to(coord.dtype) * frac[..., None])
              * weight[..., None]).sum(dim=2)
    return matrix


#: Feature maps above this many pixels go to MMCV's kernel: the products touch
#: every pixel for every RoI, so their cost grows with the map while MMCV's
#: grows with the RoIs (2-core CPU, forward + backward, 4 images x 64 channels,
#: 256 RoIs at 7x7: 2.9x faster at 32x32, 2.0x at 64x64, 1.1x at 96x96, and
#: 0.97x for 64 RoIs at 14x14 there; ``tools/benchmark_ops.py``,
#: docs/performance.md). The cap keeps a margin and bounds the interpolation
#: matrices' memory.
MAX_MAP_PIXELS = 64 * 64


def separable_roi_align(features: torch.Tensor, rois: torch.Tensor,
                        output_size: Tuple[int, int], spatial_scale: float = 1.0,
                        sampling_ratio: int = 0, aligned: bool = True,
                        max_map_pixels: int = MAX_MAP_PIXELS) -> torch.Tensor:
    """``(K, C, out_h, out_w)`` RoI features of ``features`` ``(N, C, H, W)`` for
    ``rois`` ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` (image pixels).

    CUDA tensors and maps of more than ``max_map_pixels`` pixels are handed to
    MMCV's kernel. fp16/bf16 features are interpolated in fp32 and returned in
    their own dtype (MMCV's CPU kernel has no bf16)."""
    if features.dim() != 4 or rois.dim() != 2 or rois.size(1) != 5:
        raise ValueError(f'SeparableRoIAlign: expected (N, C, H, W) features and (K, 5) rois, '
                         f'got {tuple(features.shape)} and {tuple(rois.shape)}')
    out_h, out_w = output_size
    num_images, channels, height, width = features.shape
    if features.device.type != 'cpu' or height * width > max_map_pixels:
        from mmcv.ops import roi_align
        if features.device.type == 'cpu' and features.dtype in (torch.float16,
                                                                torch.bfloat16):
            # MMCV's CPU kernel has no bf16: fp32 in, the caller's dtype out
            return roi_align(features.float(), rois.float(), output_size, spatial_scale,
                             sampling_ratio, 'avg', aligned).to(features.dtype)
        return roi_align(features, rois, output_size, spatial_scale, sampling_ratio,
                         'avg', aligned)
    dtype = features.dtype
    work = features if dtype == torch.float64 else features.float()
    out = work.new_zeros((rois.size(0), channels, out_h, out_w))
    if rois.size(0) == 0:
        return (out + work.sum() * 0).to(dtype)  # keeps the graph, as MMCV's zero-RoI case
    with torch.no_grad():
        boxes = rois.detach().to(work.dtype)
        # MMCV takes spatial_scale as a C float
        scale = float(torch.tensor(spatial_scale, dtype=torch.float32))
        offset = 0.5 if aligned else 0.0
        x1 = boxes[:, 1] * scale - offset
        y1 = boxes[:, 2] * scale - offset
        roi_w = boxes[:, 3] * scale - offset - x1
        roi_h = boxes[:, 4] * scale - offset - y1
        if aligned:
            if bool(((roi_w < 0) | (roi_h < 0)).any()):  # MMCV asserts the same
                raise ValueError('SeparableRoIAlign: a RoI with x2 < x1 or y2 < y1 '
                                 '(aligned=True needs non-negative sizes)')
        else:  # MMCV's legacy mode: at least one pixel
            roi_w = roi_w.clamp(min=1.0)
            roi_h = roi_h.clamp(min=1.0)
        rows = _axis_matrix(y1, roi_h, out_h, height, sampling_ratio)   # (K, out_h, H)
        cols = _axis_matrix(x1, roi_w, out_w, width, sampling_ratio)    # (K, out_w, W)
        image_of_roi = rois[:, 0].long()
        if bool(((image_of_roi < 0) | (image_of_roi >= num_images)).any()):
            # MMCV's kernel reads outside the batch there; an error, not wrong features
            raise ValueError(f'SeparableRoIAlign: RoI batch index outside 0..{num_images - 1}')
    indices, pooled_parts = [], []
    for image in range(num_images):
        index = (image_of_roi == image).nonzero(as_tuple=False).squeeze(1)
        if index.numel() == 0:
            continue
        count = index.numel()
        # (count*out_h, H) @ (H, C*W) -> (count, out_h*C, W) @ (count, W, out_w)
        fmap = work[image].permute(1, 0, 2).reshape(height, channels * width)
        by_rows = rows[index].reshape(count * out_h, height) @ fmap
        pooled = torch.bmm(by_rows.reshape(count, out_h * channels, width),
                           cols[index].transpose(1, 2))
        indices.append(index)
        pooled_parts.append(pooled.reshape(count, out_h, channels, out_w).permute(0, 2, 1, 3))
    return out.index_copy(0, torch.cat(indices), torch.cat(pooled_parts)).to(dtype)


class SeparableRoIAlign(nn.Module):
    """Drop-in for ``mmcv.ops.RoIAlign`` in average mode (see the module docstring)."""

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float = 1.0,
                 sampling_ratio: int = 0, pool_mode: str = 'avg', aligned: bool = True,
                 use_torchvision: bool = False) -> None:
        super().__init__()
        if pool_mode != 'avg':
            raise ValueError(f"SeparableRoIAlign: pool_mode={pool_mode!r} is not separable; "
                             "only 'avg' (use mmcv.ops.RoIAlign for 'max')")
        if use_torchvision:
            raise ValueError('SeparableRoIAlign: use_torchvision=True asks for another kernel')
        if int(sampling_ratio) != sampling_ratio or sampling_ratio < 0:
            raise ValueError(f'SeparableRoIAlign: sampling_ratio must be an integer >= 0 '
                             f'(0: adaptive), got {sampling_ratio!r}')
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = bool(aligned)

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        # interpolation weights and RoI coordinates need fp32 (bf16 holds integers
        # exactly only up to 256): no autocast inside
        with torch.autocast(device_type=input.device.type, enabled=False):
            return separable_roi_align(input, rois, self.output_size, self.spatial_scale,
                                       self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f'output_size={self.output_size}, spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, aligned={self.aligned}')


def use_separable_roi_align(model: nn.Module) -> int:
    """Replace every ``mmcv.ops.RoIAlign`` in average mode inside ``model`` by a
    ``SeparableRoIAlign`` with the same settings; returns how many were replaced.
    RoIAlign has no parameters or buffers: checkpoints are unchanged."""
    from mmcv.ops import RoIAlign
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is RoIAlign and child.pool_mode == 'avg' and not child.use_torchvision:
                setattr(parent, name, SeparableRoIAlign(
                    child.output_size, child.spatial_scale, child.sampling_ratio,
                    'avg', child.aligned))
                replaced += 1
    return replaced
