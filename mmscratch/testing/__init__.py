"""Helpers shared by the tests (and only the tests): build any config's model
on a CPU, cheaply (scaled down by :mod:`mmscratch.models.scale_down`), and the
toy runners, demo runs and fixtures of
:mod:`.runners`, :mod:`.demo` and :mod:`.fixtures`.

The config tests build over a hundred models: each is scaled down, so it has
the same layers, norm layers and trainable/frozen split as the full one.

Building never loads weights: MMEngine loads ``init_cfg`` checkpoints only in
``init_weights()``, which nothing here calls, so pretrained configs build
without downloading anything.
"""
from __future__ import annotations

import copy
from typing import Iterator, Tuple, Union

import torch.nn as nn
from mmengine.config import Config, ConfigDict

from mmscratch.models.scale_down import scale_down_model_cfg
from mmscratch.utils.config_loading import load_config



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
    cfg = path if isinstance(path, Config) else load_config(path)
    return build_model(cfg.model, scale_down=scale_down)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def norm_layers(module: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """Every normalization layer (BN/SyncBN/GN/LN/IN, MMCV's SyncBN) by name."""
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    for name, child in module.named_modules():
        if isinstance(child, norm_types) or 'SyncBatchNorm' in type(child).__name__:
            yield name, child


def strip_scope(node):
    """A config (or part) without MMEngine's ``_scope_`` keys, for comparisons."""
    if isinstance(node, dict):
        return {k: strip_scope(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(strip_scope(v) for v in node)
    return node
