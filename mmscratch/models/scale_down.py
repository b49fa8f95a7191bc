"""Scale a detector's config down: every channel width divided by one factor.

Full-size COCO detectors take seconds and hundreds of MB each to build.
:func:`scale_down_model_cfg` divides every channel width by the same factor
(and GN's group count with it) and keeps everything else: the depth, the
module types, the norm types and where they sit. A scaled-down model
therefore has the same layers, the same norm layers and the same
trainable/frozen split as the full one, so norm and freezing checks on it
mean what they would mean on the real model. The benchmark's
``--scale-down`` and the config tests build with it.
"""
from __future__ import annotations

import copy

from ..utils.config_facts import type_name

#: Keys whose values are channel widths (ints or lists of ints) in MMDetection
#: two-stage model configs.
CHANNEL_KEYS = ('in_channels', 'out_channels', 'feat_channels',
                'conv_out_channels', 'fc_out_channels', 'stem_channels',
                'base_channels')
#: ResNet's default width, which configs rarely spell out.
RESNET_BASE_CHANNELS = 64


def _scale(value, factor: int):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return max(1, value // factor)
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return type(value)(max(1, v // factor) for v in value)
    return value


def _scale_in_place(node, factor: int) -> None:
    if isinstance(node, dict):
        kind = type_name(node)
        if kind in ('ResNet', 'ResNetV1d', 'ResNeXt', 'Res2Net') \
                and 'base_channels' not in node:
            node['base_channels'] = RESNET_BASE_CHANNELS
        if kind == 'GN' and 'num_groups' in node:
            node['num_groups'] = max(1, node['num_groups'] // factor)
        for key in list(node.keys()):
            if key in CHANNEL_KEYS:
                node[key] = _scale(node[key], factor)
            else:
                _scale_in_place(node[key], factor)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _scale_in_place(item, factor)


def scale_down_model_cfg(model_cfg: dict, factor: int = 8) -> dict:
    """A copy of a model config with every width divided by ``factor``.

    ResNet's ``base_channels`` (64 -> 8), the FPN's in/out channels, the RPN,
    the RoI extractors and the box/mask heads are all divided alike, so the
    widths still fit together; GN's ``num_groups`` is divided too, keeping
    the channels per group (and ``channels % groups == 0``). Depth, module
    types and norm types are untouched.
    """
    if factor < 1:
        raise ValueError(f'factor must be >= 1, got {factor}')
    scaled = copy.deepcopy(model_cfg)
    if factor > 1:
        _scale_in_place(scaled, factor)
    return scaled
