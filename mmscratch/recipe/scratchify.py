"""``scratchify``: turn an MMDetection two-stage config into the from-scratch recipe.

Way 3 of "Mixing the recipe into your config" (docs/configs.md), for configs
that cannot be edited or that are easier to convert than to rewrite: it works
on a loaded :class:`mmengine.Config` and applies the values of
``configs/_base_/recipes/{gn,syncbn}.py`` (way 1; read from there by
:mod:`.recipe_file`, never retyped), which equal what
``configs/_base_/models/*_{gn,syncbn}.py``, ``schedules/scratch_Nx.py`` and
``scratch_runtime.py`` spell out for the paper's configs:

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
from typing import List, Optional, Tuple, Union

from mmengine.config import Config, ConfigDict

from ..utils.config_facts import is_pretrained_init, type_name
from .recipe_file import RECIPE_NORMS, scratch_recipe
from .schedule import parse_schedule
from .schedule import paper_schedule
#: Backbones whose ``norm_cfg`` / ``frozen_stages`` / ``norm_eval`` /
#: ``zero_init_residual`` mean what they mean in MMDetection's ResNet.
RESNET_LIKE = ('ResNet', 'ResNetV1d', 'ResNeXt', 'Res2Net', 'RegNet', 'ResNeSt')
#: Necks that take a ``norm_cfg`` for their convs.
NORM_NECKS = ('FPN', 'PAFPN')
#: Box heads that become the paper's 4conv1fc head.
CONVFC_BBOX_HEADS = ('Shared2FCBBoxHead', 'Shared4Conv1FCBBoxHead', 'ConvFCBBoxHead')
#: Mask heads built on FCNMaskHead, which take a ``norm_cfg`` for their convs.
FCN_MASK_HEADS = ('FCNMaskHead', 'HTCMaskHead', 'SCNetMaskHead', 'CoarseMaskHead')

#: MMEngine's checkpoint hook, replaced by the recipe's crash-safe drop-in.
CHECKPOINT_HOOK = 'CheckpointHook'


def norm_cfgs() -> dict:
    """The paper's norm layers, from the recipe files: ``'gn'`` (GN with 32
    groups) and ``'syncbn'`` (BN synchronized over all GPUs)."""
    return {name: scratch_recipe(name)['backbone']['norm_cfg'] for name in RECIPE_NORMS}


def scratch_custom_hooks() -> list:
    """The recipe's ``custom_hooks`` (``scratch_custom_hooks`` of
    configs/_base_/scratch_runtime.py, in its order; the tests hold the two equal)."""
    return scratch_recipe()['custom_hooks']


def _safe_checkpoint_type(obj_type):
    """MMEngine's ``CheckpointHook`` (by name or class) -> the recipe's
    ``SafeCheckpointHook``.

    Any other type (already ``SafeCheckpointHook``, or a checkpoint hook of the
    user's own) is kept.
    """
    safe = scratch_recipe()['default_hooks']['checkpoint']['type']
    if obj_type is None:
        return safe
    if isinstance(obj_type, str):
        return safe if obj_type.split('.')[-1] == CHECKPOINT_HOOK else obj_type
    from mmengine.hooks import CheckpointHook
    if obj_type is CheckpointHook:
        # the class of a pure-Python config becomes our class, found through
        # MMDetection's registry (``import mmscratch`` registered it)
        from mmdet.registry import HOOKS
        return HOOKS.get(safe)
    return obj_type


def parse_norm(norm: Union[str, dict]) -> dict:
    """``'GN'``/``'SyncBN'`` (any case) or a norm_cfg dict -> a norm_cfg dict."""
    if isinstance(norm, dict):
        if 'type' not in norm:
            raise ValueError(f'norm_cfg needs a type, got {norm}')
        return dict(norm)
    groups = re.fullmatch(r'gn(\d+)', str(norm).strip().lower())
    if groups and int(groups.group(1)) > 0:
        return dict(norm_cfgs()['gn'], num_groups=int(groups.group(1)))
    try:
        return dict(norm_cfgs()[str(norm).lower()])
    except KeyError:
        raise ValueError(f"norm must be 'GN', 'GN<groups>' (e.g. GN16) or 'SyncBN' (or a "
                         f'norm_cfg dict), got {norm!r}') from None


def loop_schedule(schedule: Union[str, int, float, dict]) -> dict:
    """``'6x'``, ``'220k'``, a number or ``paper_schedule`` keyword arguments ->
    the ``train_cfg.schedule`` of ``ScratchIterBasedTrainLoop``
    (:func:`mmscratch.recipe.schedule.parse_schedule`'s grammar, epochs excepted).

    Validated by computing it, so a bad schedule fails here and not hours
    into a job.
    """
    resolved = parse_schedule(schedule)
    if 'epochs' in resolved:
        raise ValueError(f'schedule {schedule!r}: the from-scratch loop counts iterations; '
                         "give a multiple of the paper's 1x ('6x') or iterations ('220k')")
    try:
        paper_schedule(**resolved)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'schedule {schedule!r}: {exc}') from None
    return resolved


#: Top-level config key where :func:`scratchify` records what it applied.
APPLIED_KEY = 'scratchified'


def scratchify_spec(norm_cfg: dict, schedule_cfg: dict) -> str:
    """``'GN:6x'`` for the ``--scratchify`` flag, where the arguments allow it."""
    known = norm_cfgs()
    names = {repr(sorted(v.items())): k for k, v in known.items()}
    norm = {'gn': 'GN', 'syncbn': 'SyncBN'}.get(names.get(repr(sorted(norm_cfg.items()))),
                                                str(dict(norm_cfg)))
    gn = dict(known['gn'])
    if norm.startswith('{') and set(norm_cfg) == set(gn) and norm_cfg['type'] == 'GN' \
            and norm_cfg['requires_grad'] is True:
        norm = f"GN{norm_cfg['num_groups']}"
    if set(schedule_cfg) == {'multiple'}:
        return f"{norm}:{schedule_cfg['multiple']:g}x"
    return f'{norm}:{schedule_cfg}'


def scratchify_again(cfg: Config, applied: dict) -> Config:
    """Apply to ``cfg`` the recipe recorded as ``applied`` (a checkpoint's record)."""
    train_cfg = scratch_recipe()['train_cfg']
    return scratchify(cfg, dict(applied['norm']), dict(applied['schedule']),
                      base_batch_size=int(applied.get('base_batch_size',
                                                      train_cfg['base_batch_size'])),
                      val_interval=int(applied.get('val_interval', train_cfg['val_interval'])))


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
            loop_schedule(part)
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
        if is_pretrained_init(init_cfg):
            node['init_cfg'] = None
        elif isinstance(init_cfg, (list, tuple)):
            kept = [c for c in init_cfg if not is_pretrained_init(c)]
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


def _with_norm(part: dict, norm_cfg: dict) -> dict:
    """A recipe part (``backbone``, ``neck``, a head) with ``norm_cfg`` in the
    recipe's norm's place."""
    return dict(copy.deepcopy(part), norm_cfg=copy.deepcopy(norm_cfg))


def _scratchify_model(model: dict, norm_cfg: dict, recipe: dict) -> None:
    backbone = model.get('backbone')
    if not isinstance(backbone, dict) or type_name(backbone) not in RESNET_LIKE:
        raise ValueError(
            'scratchify needs a ResNet-family backbone (the paper\'s), got '
            f'{type_name(backbone) if isinstance(backbone, dict) else backbone!r}')
    bbox_recipe = recipe['bbox_head']
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
        layers.append(('roi_head.bbox_head conv_out_channels (4conv1fc)',
                       bbox_recipe['conv_out_channels']))
        _check_group_norm_fits(backbone, layers, groups)
    backbone.update(_with_norm(recipe['backbone'], norm_cfg))

    necks = _as_list(model.get('neck'))
    if not necks or any(type_name(n) not in NORM_NECKS for n in necks):
        raise ValueError(
            f'scratchify needs an FPN detector (neck one of {NORM_NECKS}), got '
            f'{[type_name(n) for n in necks] or "no neck"}')
    for neck in necks:
        neck.update(_with_norm(recipe['neck'], norm_cfg))

    roi_head = model.get('roi_head')
    if not isinstance(roi_head, dict) or 'bbox_head' not in roi_head:
        raise ValueError('scratchify needs a two-stage detector with roi_head.bbox_head')
    for head in _as_list(roi_head['bbox_head']):
        if type_name(head) not in CONVFC_BBOX_HEADS:
            raise ValueError(f'scratchify makes box heads 4conv1fc; it knows '
                             f'{CONVFC_BBOX_HEADS}, got {type_name(head)!r}')
        head.update(_with_norm(bbox_recipe, norm_cfg))
    for head in _as_list(roi_head.get('mask_head')):
        if type_name(head) not in FCN_MASK_HEADS:
            raise ValueError(f'scratchify puts the norm in FCN mask heads '
                             f'{FCN_MASK_HEADS}, got {type_name(head)!r}')
        head.update(_with_norm(recipe['mask_head'], norm_cfg))
    _remove_pretrained(model)


def _without_type(part: dict) -> dict:
    return {k: v for k, v in part.items() if k != 'type'}


def scratchify(cfg: Config,
               norm: Union[str, dict] = 'GN',
               schedule: Union[str, int, float, dict] = '6x',
               *,
               base_batch_size: Optional[int] = None,
               val_interval: Optional[int] = None) -> Config:
    """A copy of ``cfg`` trained from scratch as in "Rethinking ImageNet Pre-training".

    Args:
        cfg: an MMDetection two-stage FPN config (Faster/Mask/Cascade R-CNN,
            ResNet family), e.g. ``mask-rcnn_r50_fpn_1x_coco.py``.
        norm: ``'GN'`` (32 groups), ``'GN<groups>'``, ``'SyncBN'`` or a norm_cfg dict.
        schedule: ``'6x'``, ``'220k'``, a multiple of 1x, or ``paper_schedule``
            keyword arguments, at ``base_batch_size``.
        base_batch_size: total batch the schedule and LR 0.02 are meant for
            (default: the recipe's, 16).
        val_interval: iterations between validations, at ``base_batch_size``
            (default: the recipe's, 30k).

    Returns:
        A new :class:`~mmengine.Config`; ``cfg`` is not modified.

    Raises:
        ValueError: for a model the recipe does not fit (no ResNet backbone,
            no FPN, box or mask heads without conv norm support) or a bad
            ``norm``/``schedule``.
    """
    recipe = scratch_recipe()
    norm_cfg = parse_norm(norm)
    schedule_cfg = loop_schedule(schedule)
    if base_batch_size is None:
        base_batch_size = recipe['train_cfg']['base_batch_size']
    if val_interval is None:
        val_interval = recipe['train_cfg']['val_interval']
    out = copy.deepcopy(cfg)
    if 'model' not in out:
        raise ValueError('scratchify needs a config with a model')
    _scratchify_model(out.model, norm_cfg, recipe)
    # What was applied, as data: checkpoints record it (RunInfoHook), so that
    # tools/test.py can rebuild the same model from the original config.
    out[APPLIED_KEY] = ConfigDict(
        spec=scratchify_spec(norm_cfg, schedule_cfg), norm=copy.deepcopy(norm_cfg),
        schedule=copy.deepcopy(schedule_cfg), base_batch_size=base_batch_size,
        val_interval=val_interval)

    out.load_from = None
    out.train_cfg = ConfigDict(
        recipe['train_cfg'], schedule=schedule_cfg,
        base_batch_size=base_batch_size, val_interval=val_interval)
    out.setdefault('val_cfg', ConfigDict(type='ValLoop'))
    out.setdefault('test_cfg', ConfigDict(type='TestLoop'))
    out.param_scheduler = [ConfigDict(s) for s in recipe['param_scheduler']]
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
    out.optim_wrapper.optimizer = ConfigDict(recipe['optim_wrapper']['optimizer'])
    out.optim_wrapper.paramwise_cfg = ConfigDict(recipe['optim_wrapper']['paramwise_cfg'])
    out.auto_scale_lr = ConfigDict(recipe['auto_scale_lr'], base_batch_size=base_batch_size)

    hooks = out.get('default_hooks') or ConfigDict()
    recipe_hooks = recipe['default_hooks']
    hooks.setdefault('logger', ConfigDict(type=recipe_hooks['logger']['type'])).update(
        _without_type(recipe_hooks['logger']))
    checkpoint = hooks.get('checkpoint') or ConfigDict(type=None)
    checkpoint['type'] = _safe_checkpoint_type(checkpoint.get('type'))
    checkpoint.update(_without_type(recipe_hooks['checkpoint']))
    hooks['checkpoint'] = checkpoint
    out.default_hooks = hooks
    log_processor = out.get('log_processor') or ConfigDict(
        type=recipe['log_processor']['type'])
    log_processor.update(_without_type(recipe['log_processor']))
    out.log_processor = log_processor

    imports = out.get('custom_imports') or ConfigDict(imports=[], allow_failed_imports=False)
    for name in recipe['custom_imports']['imports']:
        if name not in imports.get('imports', []):
            imports['imports'] = list(imports.get('imports', [])) + [name]
    out.custom_imports = imports
    custom_hooks = list(out.get('custom_hooks') or [])
    present = {type_name(h) for h in custom_hooks if isinstance(h, dict)}
    custom_hooks += [ConfigDict(h) for h in recipe['custom_hooks'] if h['type'] not in present]
    out.custom_hooks = custom_hooks
    # ExactResumeHook needs a fixed seed; a seed of the user's is kept.
    randomness = out.get('randomness') or ConfigDict()
    if randomness.get('seed') is None:
        randomness['seed'] = recipe['randomness']['seed']
    out.randomness = randomness
    return out
