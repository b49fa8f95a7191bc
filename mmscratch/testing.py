"""Helpers shared by the tests: build any config's model on a CPU, cheaply.

Full-size COCO detectors take seconds and hundreds of MB each to build; the
config tests build over a hundred of them. :func:`scale_down_model_cfg`
divides every channel width by the same factor (and GN's group count with it)
and keeps everything else: the depth, the module types, the norm types and
where they sit. A scaled-down model therefore has the same layers, the same
norm layers and the same trainable/frozen split as the full one, so norm and
freezing checks on it mean what they would mean on the real model.

Building never loads weights: MMEngine loads ``init_cfg`` checkpoints only in
``init_weights()``, which nothing here calls, so pretrained configs build
without downloading anything.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Iterator, Tuple, Union

import torch.nn as nn
from mmengine.config import Config, ConfigDict

from mmscratch.utils.config_facts import type_name

#: Keys whose values are channel widths (ints or lists of ints) in MMDetection
#: two-stage model configs.
CHANNEL_KEYS = ('in_channels', 'out_channels', 'feat_channels',
                'conv_out_channels', 'fc_out_channels', 'stem_channels',
                'base_channels')
#: ResNet's default width, which configs rarely spell out.
RESNET_BASE_CHANNELS = 64


def resolve_package_config(path: str) -> str:
    """Turn ``mmdet::REL`` (any OpenMMLab ``pkg::REL``) into a file path.

    ``Config.fromfile`` understands ``pkg::`` only inside ``_base_``; tests
    load MMDetection's own configs directly, from the wheel's ``.mim``.
    ``mmscratch::REL`` resolves to this repository's ``configs/``.
    """
    if '::' not in path:
        return path
    from mmscratch.utils.config_loading import resolve_config_path
    return resolve_config_path(path)


def load_config(path: Union[str, Config]) -> Config:
    """:func:`mmscratch.utils.config_loading.load_config` that also accepts a Config."""
    if isinstance(path, Config):
        return path
    from mmscratch.utils.config_loading import load_config as load
    return load(path)


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


def build_model(model_cfg: dict, scale_down: bool = True) -> nn.Module:
    """Build a detector from a model config in MMDetection's default scope."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    import mmscratch  # noqa: F401  (registers mmscratch's modules)

    register_all_modules(init_default_scope=True)
    # MMDetection reads train_cfg/test_cfg by attribute: keep ConfigDicts.
    model_cfg = ConfigDict(copy.deepcopy(model_cfg))
    if scale_down:
        model_cfg = scale_down_model_cfg(model_cfg)
    return MODELS.build(model_cfg)


def build_model_from_config(path: Union[str, Config], scale_down: bool = True) -> nn.Module:
    """Load a config (path, ``pkg::REL`` or Config) and build its model.

    SyncBN models build on a CPU without a process group (only their forward
    in training mode needs one); weights are never loaded.
    """
    return build_model(load_config(path).model, scale_down=scale_down)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def norm_layers(module: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """Every normalization layer (BN/SyncBN/GN/LN/IN, MMCV's SyncBN) by name."""
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    for name, child in module.named_modules():
        if isinstance(child, norm_types) or 'SyncBatchNorm' in type(child).__name__:
            yield name, child


@contextlib.contextmanager
def cached_metafile_reads():
    """Parse each ``metafile.yml`` once while loading many configs.

    For every ``mmdet::`` base, MMEngine first looks the name up in all of
    MMDetection's model-index metafiles (hundreds of YAML files, ~0.3 s)
    before falling back to the plain path, so a config with three such bases
    takes about a second to load. Caching the parsed YAML changes nothing
    but the time; the config tests load every config in ``configs/``.
    """
    import mmengine.config.utils as config_utils
    original = config_utils.load
    cache: dict = {}

    def load(file, *args, **kwargs):
        if (isinstance(file, str) and file.endswith(('.yml', '.yaml'))
                and not args and not kwargs):
            if file not in cache:
                cache[file] = original(file)
            return cache[file]
        return original(file, *args, **kwargs)

    config_utils.load = load
    try:
        yield
    finally:
        config_utils.load = original
