"""``tools/train.py CONFIG --dry-run``: what a run will do, before it spends GPU-days.

mmscratch's configs hold no ``max_iters``: the loop derives the schedule from
the paper's rule and the real batch. The dry run prints what the run would
resolve -- the schedule at the real batch (iterations, LR steps, warm-up,
validation and checkpoint cadence), the LR after ``auto_scale_lr``, the
images it will show, the norm layers per part of the model, trainable
parameters and the frozen parts, pretrained or not, and the hooks -- then
exits. It builds the model on the CPU (no weights are loaded) and writes nothing: no work dir, no
lock, no process group. ``--gpus N`` previews a launch on N processes.
"""
from __future__ import annotations

import copy
from typing import List

from mmengine.config import Config

from ..engine.runner.scratch_loop import resolve_loop
from ..utils.config_facts import pretrained_sources, type_name


def _model_summary(cfg: Config) -> List[str]:
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from ..engine.hooks.scratch_guard_hook import frozen_parts, norm_summary

    register_all_modules(init_default_scope=False)
    scope = cfg.get('default_scope', 'mmdet')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(copy.deepcopy(cfg.model))
    model.train()  # frozen stages and norm_eval apply in training mode
    lines = []
    for group, counts in norm_summary(model).items():
        lines.append(f'  norms      {group:<20} ' + ', '.join(
            f'{kind} x{n}' for kind, n in sorted(counts.items())))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = total - trainable
    lines.append(f'  parameters {trainable:,} trainable of {total:,}'
                 + (f' ({frozen:,} frozen)' if frozen else ''))
    lines.append(f"  frozen     {', '.join(frozen_parts(model)) or 'nothing'}")
    return lines


def _lr_lines(cfg: Config, batch: int) -> List[str]:
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
    lr = optimizer.get('lr')
    if not isinstance(lr, (int, float)):
        return ['  lr         (set by the optimizer wrapper)']
    auto = cfg.get('auto_scale_lr') or {}
    if auto.get('enable') and auto.get('base_batch_size'):
        scaled = lr * batch / auto['base_batch_size']
        return [f'  lr         {scaled:.4g} ({type_name(optimizer.get("type"))} {lr:g} at batch '
                f'{auto["base_batch_size"]}, auto_scale_lr to batch {batch})']
    return [f'  lr         {lr:g} ({type_name(optimizer.get("type"))}; auto_scale_lr off)']


def _schedule_lines(cfg: Config, per_gpu: int, world_size: int) -> List[str]:
    train_cfg = cfg.get('train_cfg') or {}
    batch = per_gpu * world_size
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    ckpt = (f"every {checkpoint.get('interval', '?')} "
            f"{'epochs' if checkpoint.get('by_epoch', True) else 'iterations'}, keeping "
            f"{checkpoint.get('max_keep_ckpts', -1) if checkpoint.get('max_keep_ckpts', -1) > 0 else 'all'}"
            if checkpoint else 'none')
    kind = type_name(train_cfg.get('type'))
    lines = [f'  batch      {per_gpu} images/GPU x {world_size} = {batch}']
    if kind == 'ScratchIterBasedTrainLoop':
        loop = resolve_loop(train_cfg.get('schedule') or {},
                            train_cfg.get('base_batch_size', 16), batch,
                            train_cfg.get('scale_with_batch', True),
                            train_cfg.get('val_begin', 1), train_cfg.get('val_interval', 1000))
        s = loop.schedule
        lines += [
            f'  schedule   {s.total_iters:,} iterations, LR x{s.gamma:g} at '
            f'{", ".join(f"{x:,}" for x in s.steps)}, warm-up {s.warmup_iters:,} '
            f'iterations from x{s.warmup_factor:.3g}',
            f'             (written for batch {loop.base.batch_size}: '
            f'{loop.base.total_iters:,} iterations; rescaled by the linear rule)'
            if loop.ratio != 1 else f'             (as written, batch {loop.base.batch_size})',
            f'  images     {s.total_iters * batch:,} seen in training',
            f'  validation every {loop.val_interval:,} iterations',
        ]
    elif kind.startswith('IterBased') or train_cfg.get('by_epoch') is False:
        total = train_cfg.get('max_iters')
        lines += [f'  schedule   {total:,} iterations (the param_scheduler as configured)'
                  if isinstance(total, int) else '  schedule   (max_iters not set)',
                  f"  validation every {train_cfg.get('val_interval', '?')} iterations"]
        if isinstance(total, int):
            lines.append(f'  images     {total * batch:,} seen in training')
    else:
        lines += [f"  schedule   {train_cfg.get('max_epochs', '?')} epochs "
                  f"({kind or 'epoch-based'}; iterations depend on the dataset size)",
                  f"  validation every {train_cfg.get('val_interval', '?')} epochs"]
    lines.append(f'  checkpoint {ckpt}')
    lines += _lr_lines(cfg, batch)
    return lines


def describe_run(cfg: Config, world_size: int = 1) -> str:
    """The dry run's report for ``cfg`` launched on ``world_size`` processes."""
    per_gpu = (cfg.get('train_dataloader') or {}).get('batch_size')
    if not isinstance(per_gpu, int) or per_gpu <= 0:
        raise ValueError('train_dataloader.batch_size must be a positive int')
    lines = [f'Dry run of {cfg.filename or "the config"} on {world_size} process(es):']
    lines += _schedule_lines(cfg, per_gpu, world_size)
    sources = pretrained_sources(cfg)
    lines.append('  init       ' + ('pretrained: ' + '; '.join(sources) if sources
                                    else 'random (from scratch)'))
    lines += _model_summary(cfg)
    default_hooks = [type_name(h) for h in (cfg.get('default_hooks') or {}).values()
                     if isinstance(h, dict)]
    custom = [type_name(h if isinstance(h, dict) else type(h))
              for h in cfg.get('custom_hooks') or []]
    lines.append(f'  hooks      {", ".join(default_hooks)}')
    lines.append(f'             + {", ".join(custom) or "no custom hooks"}')
    lines.append(f"  work dir   {cfg.get('work_dir')} (nothing was written)")
    return '\n'.join(lines)
