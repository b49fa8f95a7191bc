"""Helpers shared by the tests (and only the tests): build any config's model
on a CPU, cheaply (scaled down by :mod:`mmscratch.models.scale_down`), load
configs fast, and the toy runners, demo runs and fixtures of
:mod:`.runners`, :mod:`.demo` and :mod:`.fixtures`.

The config tests build over a hundred models: each is scaled down, so it has
the same layers, norm layers and trainable/frozen split as the full one.

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

from mmscratch.models.scale_down import scale_down_model_cfg

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
