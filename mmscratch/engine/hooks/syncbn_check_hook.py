"""``SyncBNCheckHook``: refuse SyncBN training that is not synchronized.

When it runs: ``before_train``, once, after MMEngine has built and wrapped
the model (and before the first iteration).

What it checks: whether the model holds SyncBN layers -- torch's
``SyncBatchNorm``, MMCV's ``MMSyncBN``, or the ``_BatchNormXd`` layers MMEngine
leaves in their place -- while training runs without a process group of at
least two processes. Without one, MMEngine's ``Runner.wrap_model`` silently
reverts every SyncBN to per-GPU BatchNorm (one INFO line in the log), so a
SyncBN config trains with BN statistics over the 2 images of one GPU: the
small-batch BN regime the paper shows is unstable from scratch, and the
reason it trains with GN or with SyncBN over 16 images. A process group of one
process (``dist_train.sh CONFIG 1``) keeps SyncBN but synchronizes nothing,
which is the same thing.

What it changes: nothing. A model without SyncBN passes silently, so the hook
can sit in every config's ``custom_hooks`` (``configs/_base_/scratch_runtime.py``
puts it there). It raises :class:`SyncBNWithoutProcessGroup` (``strict=True``,
the default) or logs the same explanation as a warning (``strict=False``).
"""
from __future__ import annotations

import logging
from typing import Dict

import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

#: Class names of synchronized BN layers: torch's and MMCV's (``MMSyncBN``).
SYNCBN_CLASS_NAMES = ('SyncBatchNorm',)
#: What ``mmengine.model.revert_sync_batchnorm`` turns SyncBN layers into.
REVERTED_CLASS_NAMES = ('_BatchNormXd',)


class SyncBNWithoutProcessGroup(RuntimeError):
    """A SyncBN model is about to train without synchronization."""


def count_syncbn_layers(model: nn.Module) -> Dict[str, int]:
    """Count SyncBN layers and SyncBN layers MMEngine reverted to per-GPU BN."""
    counts = {'syncbn': 0, 'reverted': 0}
    for module in model.modules():
        name = type(module).__name__
        if isinstance(module, nn.SyncBatchNorm) or name in SYNCBN_CLASS_NAMES:
            counts['syncbn'] += 1
        elif name in REVERTED_CLASS_NAMES:
            counts['reverted'] += 1
    return counts


def synchronized_world_size() -> int:
    """Processes a SyncBN layer would synchronize over (1 without a group)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return 1
    return torch_dist.get_world_size()


def _images_per_gpu(runner) -> str:
    try:
        from ..runner.scratch_loop import images_per_device
        return str(images_per_device(runner.train_dataloader))
    except Exception:  # a missing or odd dataloader must not hide the real message
        return 'the per-GPU batch of'


@HOOKS.register_module()
class SyncBNCheckHook(Hook):
    """Stop (or warn about) SyncBN training without a multi-process group.

    Args:
        strict: raise :class:`SyncBNWithoutProcessGroup` (default) instead of
            logging a warning and training on with per-GPU BN.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        counts = count_syncbn_layers(model)
        if counts['syncbn'] + counts['reverted'] == 0:
            return
        world_size = synchronized_world_size()
        if world_size >= 2:
            return
        if counts['reverted']:
            what = (f'MMEngine has already reverted its {counts["reverted"]} SyncBN '
                    'layers to per-GPU BatchNorm (BatchNormXd) because no process '
                    'group was initialized')
        else:
            what = (f'its {counts["syncbn"]} SyncBN layers run in a process group '
                    f'of {world_size} process and synchronize nothing')
        message = (
            f'This model was configured with SyncBN, but {what}. Every BN layer '
            f'would normalize over the {_images_per_gpu(runner)} images of one '
            'GPU: the small-batch BN regime that "Rethinking ImageNet '
            'Pre-training" shows is unstable from random initialization, and '
            'the reason it trains with GN or with SyncBN over 16 images. '
            'Launch with several processes (tools/dist_train.sh CONFIG NUM_GPUS, '
            'NUM_GPUS >= 2), or use the GN twin of this config; set '
            "--cfg-options custom_hooks.0.strict=False to train "
            'with per-GPU BN anyway.')
        if self.strict:
            raise SyncBNWithoutProcessGroup(message)
        print_log(message, logger='current', level=logging.WARNING)
