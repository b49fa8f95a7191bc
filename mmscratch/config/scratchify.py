"""``scratchify``: turn an MMDetection two-stage config into the from-scratch recipe.

Way 3 of "Mixing the recipe into your config" (docs/configs.md), for configs
that cannot be edited or that are easier to convert than to rewrite: it works
on a loaded :class:`mmengine.Config` and applies exactly what
``configs/_base_/models/*_{gn,syncbn}.py``, ``schedules/scratch_Nx.py`` and
``scratch_runtime.py`` spell out:

* GN (32 groups) or SyncBN in the backbone (stem and every block), the FPN,
  every box head -- made 4conv1fc (``Shared4Conv1FCBBoxHead``, 256-channel
  convs, 1024-d fc) -- and every mask head; the RPN head is left as it is, as
  in the paper;
* random initialization: no ``Pretrained`` ``init_cfg`` or ``pretrained``
  anywhere in the model, no ``load_from``; nothing frozen
  (``frozen_stages=-1``), norm layers trained (``norm_eval=False``);
* the paper's schedule rule for ``6x`` etc. (``ScratchIterBasedTrainLoop`` +
  ``ScratchScheduleLR``), SGD LR 0.02 / momentum 0.9 / weight decay 1e-4 at
  batch 16 with no decay on norm parameters, ``auto_scale_lr`` on;
* iteration-based, crash-safe checkpoints (``SafeCheckpointHook``, the user's
  other checkpoint options kept) and logs, ``custom_imports`` of mmscratch,
  the hooks of ``scratch_custom_hooks`` (SyncBN check, from-scratch guard,
  data seen, convergence curve, exact resume, divergence recovery, plain-data
  checkpoints, run_info.json, save on pre-emption; one the config already has
  is not added twice) and a fixed ``randomness.seed``.

Data pipelines, the RPN, losses, train/test settings of the model and the
optimizer wrapper type (e.g. AMP) are kept.
"""
from __future__ import annotations

import copy
import math
import re
from typing import List, Tuple, Union

from mmengine.config import Config, ConfigDict

from ..engine.schedule import PAPER_BATCH_SIZE, paper_schedule
from ..utils.config_facts import type_name

#: The paper's norm layers: GN with 32 groups, or BN synchronized over all GPUs.
NORM_CFGS = {
    'gn': dict(type='GN', num_groups=32, requires_grad=True),
    'syncbn': dict(type='SyncBN', requires_grad=True),
}
#: Backbones whose ``norm_cfg`` / ``frozen_stages`` / ``norm_eval`` /
#: ``zero_init_residual`` mean what they mean in MMDetection's ResNet.
RESNET_LIKE = ('ResNet', 'ResNetV1d', 'ResNeXt', 'Res2Net', 'RegNet', 'ResNeSt')
#: Necks that take a ``norm_cfg`` for their convs.
NORM_NECKS = ('FPN', 'PAFPN')
#: Box heads that become the paper's 4conv1fc head.
CONVFC_BBOX_HEADS = ('Shared2FCBBoxHead', 'Shared4Conv1FCBBoxHead', 'ConvFCBBoxHead')
#: Mask heads built on FCNMaskHead, which take a ``norm_cfg`` for their convs.
FCN_MASK_HEADS = ('FCNMaskHead', 'HTCMaskHead', 'SCNetMaskHead', 'CoarseMaskHead')

DEFAULT_VAL_INTERVAL = 30000
DEFAULT_CHECKPOINT_INTERVAL = 10000
DEFAULT_SEED = 0
SYNC_BN_HOOK = 'SyncBNCheckHook'
#: MMEngine's checkpoint hook, and its crash-safe drop-in replacement.
CHECKPOINT_HOOK = 'CheckpointHook'
SAFE_CHECKPOINT_HOOK = 'SafeCheckpointHook'
#: ``scratch_custom_hooks`` of configs/_base_/scratch_runtime.py, in its order
#: (the tests hold the two equal).
SCRATCH_CUSTOM_HOOKS = (
    dict(type=SYNC_BN_HOOK),
    dict(type='ScratchGuardHook', strict=True),
    dict(type='DataSeenHook', sync_interval=50),
    dict(type='ConvergenceCurveHook', num_points=10),
    dict(type='ExactResumeHook'),
    dict(type='DivergenceRecoveryHook'),
    dict(type='PlainDataCheckpointHook'),
    dict(type='RunInfoHook'),
    dict(type='PreemptionHook'),
)


def _safe_checkpoint_type(obj_type):
    """MMEngine's ``CheckpointHook`` (by name or class) -> ``SafeCheckpointHook``.

    Any other type (already ``SafeCheckpointHook``, or a checkpoint hook of the
    user's own) is kept.
    """
    if obj_type is None:
        return SAFE_CHECKPOINT_HOOK
    if isinstance(obj_type, str):
        return SAFE_CHECKPOINT_HOOK if obj_type.split('.')[-1] == CHECKPOINT_HOOK else obj_type
    from mmengine.hooks import CheckpointHook
    if obj_type is CheckpointHook:
        from ..engine.hooks.safe_checkpoint_hook import SafeCheckpointHook
        return SafeCheckpointHook
    return obj_type


def parse_norm(norm: Union[str, dict]) -> dict:
    """``'GN'``/``'SyncBN'`` (any case) or a norm_cfg dict -> a norm_cfg dict."""
    if isinstance(norm, dict):
        if 'type' not in norm:
            raise ValueError(f'norm_cfg needs a type, got {norm}')
        return dict(norm)
    groups = re.fullmatch(r'gn(\d+)', str(norm).strip().lower())
    if groups and int(groups.group(1)) > 0:
        return dict(NORM_CFGS['gn'], num_groups=int(groups.group(1)))
    try:
        return dict(NORM_CFGS[str(norm).lower()])
    except KeyError:
        raise ValueError(f"norm must be 'GN', 'GN<groups>' (e.g. GN16) or 'SyncBN' (or a "
                         f'norm_cfg dict), got {norm!r}') from None


def parse_schedule(schedule: Union[str, int, float, dict]) -> dict:
    """``'6x'``, ``6`` or ``paper_schedule`` keyword arguments -> the loop's ``schedule``.

    Validated by computing it, so a bad schedule fails here and not hours
    into a job.
    """
    if isinstance(schedule, dict):
        resolved = dict(schedule)
    elif isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        resolved = dict(multiple=schedule)
    else:
        match = re.fullmatch(r'\s*(\d+(?:\.\d+)?)\s*x\s*', str(schedule), re.IGNORECASE)
        if match is None:
            raise ValueError(f"schedule must look like '6x' (multiples of the paper's "
                             f'90k-iteration 1x), a number or a dict, got {schedule!r}')
        value = float(match.group(1))
        resolved = dict(multiple=int(value) if value.is_integer() else value)
    paper_schedule(**resolved)
    return resolved


#: Top-level config key where :func:`scratchify` records what it applied.
APPLIED_KEY = 'scratchified'


def scratchify_spec(norm_cfg: dict, schedule_cfg: dict) -> str:
    """``'GN:6x'`` for the ``--scratchify`` flag, where the arguments allow it."""
    names = {repr(sorted(v.items())): k for k, v in NORM_CFGS.items()}
    norm = {'gn': 'GN', 'syncbn': 'SyncBN'}.get(names.get(repr(sorted(norm_cfg.items()))),
                                                str(dict(norm_cfg)))
    gn = dict(NORM_CFGS['gn'])
    if norm.startswith('{') and set(norm_cfg) == set(gn) and norm_cfg['type'] == 'GN' \
            and norm_cfg['requires_grad'] is True:
        norm = f"GN{norm_cfg['num_groups']}"
    if set(schedule_cfg) == {'multiple'}:
        return f"{norm}:{schedule_cfg['multiple']:g}x"
    return f'{norm}:{schedule_cfg}'


def scratchify_again(cfg: Config, applied: dict) -> Config:
    """Apply to ``cfg`` the recipe recorded as ``applied`` (a checkpoint's record)."""
    return scratchify(cfg, dict(applied['norm']), dict(applied['schedule']),
                      base_batch_size=int(applied.get('base_batch_size', PAPER_BATCH_SIZE)),
                      val_interval=int(applied.get('val_interval', DEFAULT_VAL_INTERVAL)))


def parse_scratchify_flag(value: str) -> Tuple[str, str]:
    """``--scratchify NORM:SCHEDULE`` -> ``(norm, schedule)``; each part optional.

    ``'GN:6x'``, ``'SyncBN'`` (6x), ``'3x'`` (GN), ``''`` (GN, 6x), ``'GN16:6x'``
    (GN with 16 groups); the order does not matter. Anything else is refused,
    not ignored.
    """
    norm, schedule = None, None
    for part in filter(None, (p.strip() for p in value.split(':'))):
        if norm is None and re.fullmatch(r'(gn\d*|syncbn)', part.lower()):
            norm = part
            continue
        try:
            if schedule is not None:
                raise ValueError('a second schedule')
            parse_schedule(part)
        except ValueError:
            raise ValueError(
                f'--scratchify {value!r}: {part!r} is not one norm (GN or SyncBN) and '
                "one schedule (like 6x); expected e.g. 'GN:6x'") from None
        schedule = part
    return norm or 'GN', schedule or '6x'


def _as_list(node):
    if node is None:
        return []
    return list(node) if isinstance(node, (list, tuple)) else [node]


def _remove_pretrained(node) -> None:
    """Drop every pretrained initialization in a model config, in place."""
    if isinstance(node, dict):
        node.pop('pretrained', None)
        init_cfg = node.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            node['init_cfg'] = None
        elif isinstance(init_cfg, (list, tuple)):
            kept = [c for c in init_cfg
                    if not (isinstance(c, dict) and c.get('type') == 'Pretrained')]
            node['init_cfg'] = kept or None
        for value in node.values():
            _remove_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _remove_pretrained(value)


def _norm_channels(backbone: dict) -> List[Tuple[str, int]]:
    """(layer name, channels) of every norm layer of a backbone config.

    Built with BN on the meta device (no memory, no init: milliseconds), so
    that the widths are the backbone's own, whatever arithmetic its type uses.
    """
    import torch
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS
    from torch.nn.modules.batchnorm import _BatchNorm

    probe = copy.deepcopy(backbone)
    # item assignment: ConfigDict.update would merge into the old norm_cfg
    probe['norm_cfg'] = dict(type='BN')
    probe['init_cfg'] = None
    probe.pop('pretrained', None)
    with DefaultScope.overwrite_default_scope('mmdet'), torch.device('meta'):
        module = MODELS.build(probe)
    return [(name, m.num_features) for name, m in module.named_modules()
            if isinstance(m, _BatchNorm)]


def _check_group_norm_fits(backbone: dict, channels: List[Tuple[str, int]], groups: int):
    """Refuse a GN group count that does not divide every norm layer's channels."""
    bad = [(name, c) for name, c in channels if c % groups]
    if not bad:
        return
    common = 0
    for _, c in channels:
        common = math.gcd(common, c)
    fits = max(d for d in range(1, groups + 1) if common % d == 0)
    name, c = bad[0]
    raise ValueError(
        f'scratchify: GN({groups}) cannot split {name} ({c} channels, {c} % {groups} = '
        f'{c % groups}) of the {type_name(backbone)} backbone; {len(bad)} norm layer(s) do '
        f'not divide. GN({fits}) fits every width ({", ".join(map(str, sorted({c for _, c in channels})))}): '
        f"--scratchify GN{fits}:SCHEDULE or norm=dict(type='GN', num_groups={fits})")


def _scratchify_model(model: dict, norm_cfg: dict) -> None:
    backbone = model.get('backbone')
    if not isinstance(backbone, dict) or type_name(backbone) not in RESNET_LIKE:
        raise ValueError(
            'scratchify needs a ResNet-family backbone (the paper\'s), got '
            f'{type_name(backbone) if isinstance(backbone, dict) else backbone!r}')
    if type_name(norm_cfg.get('type')) == 'GN':
        groups = int(norm_cfg.get('num_groups', 32))
        layers = [(f'backbone.{n}', c) for n, c in _norm_channels(backbone)]
        for i, neck in enumerate(_as_list(model.get('neck'))):
            if isinstance(neck.get('out_channels'), int):
                layers.append((f'neck ({i}) out_channels', neck['out_channels']))
        for head in _as_list((model.get('roi_head') or {}).get('mask_head')):
            if isinstance(head, dict) and isinstance(head.get('conv_out_channels'), int):
                layers.append(('roi_head.mask_head conv_out_channels',
                               head['conv_out_channels']))
        layers.append(('roi_head.bbox_head conv_out_channels (4conv1fc)', 256))
        _check_group_norm_fits(backbone, layers, groups)
    backbone.update(
        norm_cfg=copy.deepcopy(norm_cfg), norm_eval=False, frozen_stages=-1,
        zero_init_residual=False, init_cfg=None)

    necks = _as_list(model.get('neck'))
    if not necks or any(type_name(n) not in NORM_NECKS for n in necks):
        raise ValueError(
            f'scratchify needs an FPN detector (neck one of {NORM_NECKS}), got '
            f'{[type_name(n) for n in necks] or "no neck"}')
    for neck in necks:
        neck['norm_cfg'] = copy.deepcopy(norm_cfg)

    roi_head = model.get('roi_head')
    if not isinstance(roi_head, dict) or 'bbox_head' not in roi_head:
        raise ValueError('scratchify needs a two-stage detector with roi_head.bbox_head')
    for head in _as_list(roi_head['bbox_head']):
        if type_name(head) not in CONVFC_BBOX_HEADS:
            raise ValueError(f'scratchify makes box heads 4conv1fc; it knows '
                             f'{CONVFC_BBOX_HEADS}, got {type_name(head)!r}')
        head.update(type='Shared4Conv1FCBBoxHead', conv_out_channels=256,
                    fc_out_channels=1024, norm_cfg=copy.deepcopy(norm_cfg))
    for head in _as_list(roi_head.get('mask_head')):
        if type_name(head) not in FCN_MASK_HEADS:
            raise ValueError(f'scratchify puts the norm in FCN mask heads '
                             f'{FCN_MASK_HEADS}, got {type_name(head)!r}')
        head['norm_cfg'] = copy.deepcopy(norm_cfg)
    _remove_pretrained(model)


def scratchify(cfg: Config,
               norm: Union[str, dict] = 'GN',
               schedule: Union[str, int, float, dict] = '6x',
               *,
               base_batch_size: int = PAPER_BATCH_SIZE,
               val_interval: int = DEFAULT_VAL_INTERVAL) -> Config:
    """A copy of ``cfg`` trained from scratch as in "Rethinking ImageNet Pre-training".

    Args:
        cfg: an MMDetection two-stage FPN config (Faster/Mask/Cascade R-CNN,
            ResNet family), e.g. ``mask-rcnn_r50_fpn_1x_coco.py``.
        norm: ``'GN'`` (32 groups), ``'SyncBN'`` or a norm_cfg dict.
        schedule: ``'6x'``, a multiple of 1x, or ``paper_schedule`` keyword
            arguments, at ``base_batch_size``.
        base_batch_size: total batch the schedule and LR 0.02 are meant for.
        val_interval: iterations between validations, at ``base_batch_size``.

    Returns:
        A new :class:`~mmengine.Config`; ``cfg`` is not modified.

    Raises:
        ValueError: for a model the recipe does not fit (no ResNet backbone,
            no FPN, box or mask heads without conv norm support) or a bad
            ``norm``/``schedule``.
    """
    norm_cfg = parse_norm(norm)
    schedule_cfg = parse_schedule(schedule)
    out = copy.deepcopy(cfg)
    if 'model' not in out:
        raise ValueError('scratchify needs a config with a model')
    _scratchify_model(out.model, norm_cfg)
    # What was applied, as data: checkpoints record it (RunInfoHook), so that
    # tools/test.py can rebuild the same model from the original config.
    out[APPLIED_KEY] = ConfigDict(
        spec=scratchify_spec(norm_cfg, schedule_cfg), norm=copy.deepcopy(norm_cfg),
        schedule=copy.deepcopy(schedule_cfg), base_batch_size=base_batch_size,
        val_interval=val_interval)

    out.load_from = None
    out.train_cfg = ConfigDict(
        type='ScratchIterBasedTrainLoop', schedule=schedule_cfg,
        base_batch_size=base_batch_size, val_interval=val_interval)
    out.setdefault('val_cfg', ConfigDict(type='ValLoop'))
    out.setdefault('test_cfg', ConfigDict(type='TestLoop'))
    out.param_scheduler = [ConfigDict(type='ScratchScheduleLR')]
    # Keep the wrapper (AmpOptimWrapper stays mixed precision, clip_grad and
    # accumulative_counts stay); the optimizer and its per-parameter rules are
    # the recipe's.
    wrapper = out.get('optim_wrapper') or ConfigDict(type='OptimWrapper')
    out.optim_wrapper = ConfigDict(
        {k: v for k, v in wrapper.items() if k not in ('optimizer', 'paramwise_cfg')})
    out.optim_wrapper.setdefault('type', 'OptimWrapper')
    if (out.optim_wrapper.get('accumulative_counts') or 1) > 1:
        from mmengine.logging import print_log
        print_log(
            f"scratchify: optim_wrapper.accumulative_counts="
            f"{out.optim_wrapper['accumulative_counts']} is kept: the optimizer steps every "
            f"that many iterations, so the batch the LR and schedule assume is that many "
            'times the images per iteration; set train_dataloader.batch_size / the GPU '
            'count so that images per iteration match base_batch_size instead',
            logger='current', level=30)
    out.optim_wrapper.optimizer = ConfigDict(
        type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4)
    out.optim_wrapper.paramwise_cfg = ConfigDict(norm_decay_mult=0.)
    out.auto_scale_lr = ConfigDict(enable=True, base_batch_size=base_batch_size)

    hooks = out.get('default_hooks') or ConfigDict()
    hooks.setdefault('logger', ConfigDict(type='LoggerHook')).update(interval=50)
    checkpoint = hooks.get('checkpoint') or ConfigDict(type=SAFE_CHECKPOINT_HOOK)
    checkpoint['type'] = _safe_checkpoint_type(checkpoint.get('type'))
    checkpoint.update(
        by_epoch=False, interval=DEFAULT_CHECKPOINT_INTERVAL, max_keep_ckpts=3)
    hooks['checkpoint'] = checkpoint
    out.default_hooks = hooks
    log_processor = out.get('log_processor') or ConfigDict(type='LogProcessor')
    log_processor.update(window_size=50, by_epoch=False)
    out.log_processor = log_processor

    imports = out.get('custom_imports') or ConfigDict(imports=[], allow_failed_imports=False)
    if 'mmscratch' not in imports.get('imports', []):
        imports['imports'] = list(imports.get('imports', [])) + ['mmscratch']
    out.custom_imports = imports
    custom_hooks = list(out.get('custom_hooks') or [])
    present = {type_name(h) for h in custom_hooks if isinstance(h, dict)}
    custom_hooks += [ConfigDict(copy.deepcopy(h)) for h in SCRATCH_CUSTOM_HOOKS
                     if h['type'] not in present]
    out.custom_hooks = custom_hooks
    # ExactResumeHook needs a fixed seed; a seed of the user's is kept.
    randomness = out.get('randomness') or ConfigDict()
    if randomness.get('seed') is None:
        randomness['seed'] = DEFAULT_SEED
    out.randomness = randomness
    return out
