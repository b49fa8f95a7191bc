"""``ScratchGuardHook``: refuse a run that claims "from scratch" but is not.

When it runs: ``before_train``, once, after the model, optimizer, loop and
schedulers exist (and before the first iteration).

What it checks (each one a way published "from scratch" runs went wrong):

* ``load_from`` set on a fresh (non-resumed) run, or a ``Pretrained``
  ``init_cfg`` anywhere in the model;
* frozen stages or any parameter with ``requires_grad=False``;
* norm layers left in eval mode in training (``norm_eval=True``), frozen BN;
* plain BatchNorm with fewer than ``min_bn_images`` images per GPU where
  GN/SyncBN was meant (the paper's Figure 4/5: BN on 2 images per GPU fails
  from scratch);
* SyncBN without a process group of more than one process (MMEngine falls
  back to per-GPU BN silently).

What it changes: nothing. It logs a one-screen summary (norm types per module
group, trainable parameters, effective batch, LR schedule with its steps),
then raises ``ScratchGuardError`` (``strict=True``) or warns.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Dict, List

import torch.nn as nn
from mmengine.dist import get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS
from torch.nn.modules.batchnorm import _BatchNorm

from ...utils.config_facts import pretrained_init_entries
from ..runner.scratch_loop import images_per_device

GROUPS = ('backbone', 'neck', 'rpn_head', 'roi_head.bbox_head', 'roi_head.mask_head',
          'roi_head', 'bbox_head', 'mask_head')


class ScratchGuardError(RuntimeError):
    """The run is not the from-scratch recipe it claims to be."""


def norm_kind(module: nn.Module) -> str | None:
    """'GN', 'SyncBN', 'BN', 'FrozenBN', 'LN' or None for non-norm modules."""
    name = type(module).__name__
    if isinstance(module, nn.GroupNorm):
        return 'GN'
    if isinstance(module, nn.SyncBatchNorm) or name in ('SyncBatchNorm', 'MMSyncBN'):
        return 'SyncBN'
    if 'Frozen' in name and ('BatchNorm' in name or 'BN' in name):
        return 'FrozenBN'
    if isinstance(module, _BatchNorm):
        return 'BN'
    if isinstance(module, nn.LayerNorm):
        return 'LN'
    return None


def _group_of(name: str) -> str:
    for group in GROUPS:
        if name == group or name.startswith(group + '.'):
            return group
    return name.split('.')[0] if name else '(model)'


def norm_summary(model: nn.Module) -> Dict[str, Counter]:
    """Norm layer types counted per module group (backbone, neck, heads)."""
    summary: Dict[str, Counter] = OrderedDict()
    for name, module in model.named_modules():
        kind = norm_kind(module)
        if kind is not None:
            summary.setdefault(_group_of(name), Counter())[kind] += 1
    return summary


def frozen_parts(model: nn.Module) -> List[str]:
    """The outermost modules whose parameters are all frozen (``requires_grad=False``).

    ``frozen_stages=1`` on a ResNet gives ``['backbone.conv1', 'backbone.gn1',
    'backbone.layer1']`` (the stem and res2, Detectron's ``FREEZE_AT: 2``);
    nothing frozen gives ``[]``. A frozen parameter held directly by a module
    that also trains others is listed by its own name.
    """
    parts: List[str] = []

    def visit(prefix: str, module: nn.Module) -> None:
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            parts.append(prefix or '(model)')
            return
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                parts.append(f'{prefix}.{name}' if prefix else name)
        for name, child in module.named_children():
            visit(f'{prefix}.{name}' if prefix else name, child)

    visit('', model)
    return parts


def _pretrained_inits(model: nn.Module) -> List[str]:
    found = []
    for name, module in model.named_modules():
        for cfg in pretrained_init_entries(getattr(module, 'init_cfg', None)):
            found.append(f"{name or '(model)'}: Pretrained({cfg.get('checkpoint')})")
    return found


@HOOKS.register_module()
class ScratchGuardHook(Hook):
    """Check, before the first iteration, that the run really is from scratch.

    Args:
        strict: raise ``ScratchGuardError`` on a problem (default); else warn.
        min_bn_images: plain BatchNorm with fewer images per GPU than this is
            reported (GN or SyncBN was meant).
        allow_frozen: parameter-name prefixes allowed to be frozen (e.g. a
            deliberately fixed layer); empty by default.
    """

    priority = 'VERY_LOW'  # after every other before_train hook set things up

    def __init__(self, strict: bool = True, min_bn_images: int = 8,
                 allow_frozen: tuple = ()):
        self.strict = strict
        self.min_bn_images = min_bn_images
        self.allow_frozen = tuple(allow_frozen)

    def find_problems(self, runner) -> List[str]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        problems = []
        if runner.cfg.get('load_from') and not runner.cfg.get('resume', False):
            problems.append(f"load_from={runner.cfg.get('load_from')!r}: weights are "
                            'loaded from a checkpoint, not randomly initialized')
        problems += [f'pretrained init: {p}' for p in _pretrained_inits(model)]
        frozen = [n for n, p in model.named_parameters()
                  if not p.requires_grad and not n.startswith(self.allow_frozen)]
        if frozen:
            shown = ', '.join(frozen[:5]) + (' ...' if len(frozen) > 5 else '')
            problems.append(f'{len(frozen)} frozen parameter(s) (requires_grad=False, '
                            f'e.g. frozen_stages): {shown}')
        was_training = model.training
        model.train()  # what the train loop does: norm_eval / frozen stages apply here
        in_eval = [n for n, m in model.named_modules()
                   if norm_kind(m) in ('BN', 'SyncBN', 'GN') and not m.training]
        model.train(was_training)
        if in_eval:
            problems.append(f'{len(in_eval)} norm layer(s) stay in eval mode in training '
                            f'(norm_eval=True?), e.g. {in_eval[0]}')
        kinds = Counter(k for c in norm_summary(model).values() for k in c.elements())
        if kinds['FrozenBN']:
            problems.append(f"{kinds['FrozenBN']} frozen BatchNorm layer(s): use GN or SyncBN")
        per_gpu = images_per_device(runner.train_dataloader)
        if kinds['BN'] and per_gpu < self.min_bn_images:
            problems.append(
                f"{kinds['BN']} plain BatchNorm layer(s) with {per_gpu} image(s) per GPU: "
                'batch statistics over so few images are too noisy to train from scratch; '
                'use GN or SyncBN')
        if kinds['SyncBN'] and (not is_distributed() or get_world_size() < 2):
            problems.append(
                f"{kinds['SyncBN']} SyncBN layer(s) without a process group of 2+ "
                'processes: MMEngine silently reverts them to per-GPU BN')
        return problems

    def summary(self, runner) -> str:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        lines = ['Scratch guard summary']
        for group, counts in norm_summary(model).items():
            lines.append(f'  norms  {group:<20} ' +
                         ', '.join(f'{k} x{v}' for k, v in sorted(counts.items())))
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        lines.append(f'  params {trainable:,} trainable of {total:,}')
        lines.append(f"  frozen {', '.join(frozen_parts(model)) or 'nothing'}")
        per_gpu = images_per_device(runner.train_dataloader)
        lines.append(f'  batch  {per_gpu} images/GPU x {get_world_size()} = '
                     f'{per_gpu * get_world_size()}')
        lrs = sorted({g['lr'] for g in runner.optim_wrapper.param_groups})
        lines.append(f"  lr     now {', '.join(f'{lr:.4g}' for lr in lrs)}")
        schedule = getattr(runner.train_loop, 'schedule', None)
        if schedule is not None:
            lines.append(f'  sched  {schedule.describe()}')
        else:
            lines.append(f'  sched  {runner.train_loop.max_iters} iterations, '
                         f'schedulers: {[type(s).__name__ for s in runner.param_schedulers]}')
        return '\n'.join(lines)

    def before_train(self, runner) -> None:
        runner.logger.info(self.summary(runner))
        problems = self.find_problems(runner)
        if not problems:
            runner.logger.info('Scratch guard: the run is from scratch')
            return
        message = 'Not a from-scratch run:\n  - ' + '\n  - '.join(problems)
        if self.strict:
            raise ScratchGuardError(message + '\n(ScratchGuardHook strict=False only warns)')
        runner.logger.warning(message)
