"""Every config in configs/ (but _base_): it loads, builds, and is what its name says.

What each config must be is read from its name, the way a user reads it
(mmscratch.analysis.config_names: the one grammar of config names):
``{mask,faster,cascade_mask}_rcnn_r{50,101}_{gn,syncbn}_[ms_]{N}x`` is the
paper's N x 90k-iteration schedule with GN(32)/SyncBN everywhere but the RPN
head; ``..._lsj_{E}e`` is the modern LSJ recipe; ``configs/scratch`` has no
pretrained weights anywhere and ``configs/pretrained`` holds each scratch
config's twin with an ImageNet backbone. The per-config tests check what
each config adds of its own (norms, depth, heads, schedule length, data
augmentation, init, hooks list); the values the configs share live in the
bases, checked once in test_bases.py, and one test checks that every paper
config kept them. Models are built scaled down (mmscratch.testing), which
keeps every layer type and norm layer.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from mmscratch.analysis.config_names import parse_config_name
from mmscratch.recipe.schedule import paper_schedule, scale_schedule
from mmscratch.testing import (build_model, count_parameters, norm_layers, scale_down_model_cfg,
                               strip_scope)
from mmscratch.utils.config_loading import load_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
# detector configs (the mini paper's classifier pre-training config is tested in
# tests/test_checkpoint/test_backbone_export.py)
# detector configs (the mini paper's classifier pre-training config is tested in
# tests/test_checkpoint/test_backbone_export.py)
ALL_CONFIGS = sorted(str(p.relative_to(REPO)) for p in CONFIGS.rglob('*.py')
                     if '_base_' not in p.relative_to(CONFIGS).parts
                     and not p.name.endswith('_cls_pretrain.py'))
NORM_CLASSES = {'gn': nn.GroupNorm, 'syncbn': nn.SyncBatchNorm}
NORM_CFGS = {'gn': dict(type='GN', num_groups=32, requires_grad=True),
             'syncbn': dict(type='SyncBN', requires_grad=True)}
RESNET_BLOCKS = {50: 3 + 4 + 6 + 3, 101: 3 + 4 + 23 + 3}
PAPER_MULTIPLES = (2, 3, 4, 5, 6)
#: Variants of a paper config with one thing changed: bf16 autocast (speed), or
#: Detectron's backbone/FPN init (configs/_base_/inits/detectron_init.py).
VARIANTS = ('_bf16', '_detectron_init')
#: What a pretrained twin keeps frozen: the stem and res2, as the reference
#: configs (Detectron/detectron2 FREEZE_AT 2 = MMDetection frozen_stages=1).
PRETRAINED_FROZEN_STAGES = 1


def parse(path: str) -> dict:
    """What the config's directory and name promise.

    Names outside the paper's grid (the small-data regimes) still say their
    depth, norm and init (``_r50_``, ``_gn``, a ``_pretrained`` suffix); the
    CPU demo's name says none of them.
    """
    stem = Path(path).stem
    kind = Path(path).parent.name
    key = parse_config_name(stem)
    schedule = key.schedule or ''
    return dict(path=path, stem=stem, kind=kind,
                depth=int(key.depth[1:]) if key.depth else None,
                norm=key.norm, det=key.arch, variant=key.variant,
                pretrained=kind == 'pretrained' or key.arm == 'pretrained',
                paper=key.parsed and kind in ('scratch', 'pretrained'),
                ms=key.aug == 'ms', lsj=key.aug == 'lsj',
                multiple=int(schedule[:-1]) if schedule.endswith('x') else None,
                epochs=int(schedule[:-1]) if schedule.endswith('e') else None)


@functools.lru_cache(maxsize=None)
def config(path: str):
    return load_config(str(REPO / path))


_MODELS: dict = {}


def scaled_model(path: str) -> nn.Module:
    """Build each distinct (scaled-down) model once: many configs share one."""
    model_cfg = scale_down_model_cfg(config(path).model.to_dict())
    key = json.dumps(model_cfg, sort_keys=True, default=str)
    if key not in _MODELS:
        _MODELS[key] = build_model(model_cfg, scale_down=False)
    return _MODELS[key]


def walk(node, prefix=''):
    """(dotted key, value) of every entry of a nested config."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f'{prefix}{key}', value
            yield from walk(value, f'{prefix}{key}.')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from walk(value, f'{prefix}{i}.')


def test_configs_were_found():
    assert len(ALL_CONFIGS) > 100
    assert 'configs/demo/mask_rcnn_gn_shapes.py' in ALL_CONFIGS


def test_every_promised_config_exists():
    expected = set()
    for det in ('mask_rcnn', 'faster_rcnn'):
        for depth in (50, 101):
            for norm in ('gn', 'syncbn'):
                expected |= {f'{det}_r{depth}_{norm}_{n}x' for n in PAPER_MULTIPLES}
                expected.add(f'{det}_r{depth}_{norm}_ms_9x')
    expected |= {f'cascade_mask_rcnn_r{d}_{n}_ms_9x' for d in (50, 101) for n in ('gn', 'syncbn')}
    expected |= {f'mask_rcnn_r50_syncbn_lsj_{e}e' for e in (100, 200, 400)}
    scratch = {Path(p).stem for p in ALL_CONFIGS if p.startswith('configs/scratch/')}
    pretrained = {Path(p).stem for p in ALL_CONFIGS if p.startswith('configs/pretrained/')}
    # variants (same recipe, one thing changed: mask_rcnn_r50_gn_6x_bf16) of paper configs
    variants = {s for s in scratch if s.endswith(VARIANTS)}
    assert {s for s in variants if s.endswith('_bf16')}
    assert {s for s in variants if s.endswith('_detectron_init')}
    assert all(re.sub('(' + '|'.join(VARIANTS) + ')$', '', s) in expected for s in variants)
    assert scratch - variants == expected
    # a twin for every scratch config, and the paper's 6x pretrained enhanced baselines
    assert pretrained == expected | {s.replace('_ms_9x', '_ms_6x') for s in expected if '_ms_' in s}


@pytest.mark.parametrize('path', ALL_CONFIGS)
def test_loads_with_the_scratch_machinery(path):
    cfg = config(path)
    assert 'mmscratch' in cfg.custom_imports.imports
    assert cfg.custom_imports.allow_failed_imports is False
    assert cfg.train_cfg.type == 'ScratchIterBasedTrainLoop'
    assert [s['type'] for s in cfg.param_scheduler] == ['ScratchScheduleLR']
    # the schedule is valid, and written for the batch the LR is written for
    paper_schedule(**cfg.train_cfg.schedule, batch_size=cfg.train_cfg.base_batch_size)
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=cfg.train_cfg.base_batch_size)
    if path.startswith('configs/demo/'):
        # the CPU demo trains with AdamW (see its config and the README)
        assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    else:
        assert cfg.optim_wrapper.optimizer.type == 'SGD'
        assert cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
    assert cfg.get('load_from') is None


@pytest.mark.parametrize('path', ALL_CONFIGS)
def test_norm_layers_are_as_named_and_everything_trains(path):
    info, cfg = parse(path), config(path)
    norm = info['norm'] or 'gn'
    norm_class = NORM_CLASSES[norm]
    full_size = info['depth'] is not None  # a named ResNet-50/101: the paper's widths
    # full size: every norm_cfg of the model is the paper's GN(32) / SyncBN
    norm_cfgs = [v for k, v in walk(cfg.model.to_dict()) if k.endswith('norm_cfg')]
    assert norm_cfgs
    for norm_cfg in norm_cfgs:
        if full_size:
            assert norm_cfg == NORM_CFGS[norm]
        else:  # the CPU demo: GN with fewer groups for its fewer channels
            assert norm_cfg['type'] == 'GN' and norm_cfg['requires_grad']

    model = scaled_model(path)
    model.train()
    layers = dict(norm_layers(model))
    assert layers and all(isinstance(m, norm_class) for m in layers.values()), \
        {n: type(m).__name__ for n, m in layers.items() if not isinstance(m, norm_class)}
    # trainable and in training mode: from scratch nothing frozen, no norm_eval; a
    # pretrained twin freezes the stem and res2 (and only them) as the references did
    frozen_prefixes = ()
    if info['pretrained']:
        norm1 = 'gn1' if norm == 'gn' else 'bn1'
        frozen_prefixes = ('backbone.conv1.', f'backbone.{norm1}.', 'backbone.layer1.')
    for name, param in model.named_parameters():
        assert param.requires_grad != name.startswith(frozen_prefixes), name
    assert all(m.training != f'{name}.'.startswith(frozen_prefixes)
               for name, m in layers.items()), \
        [name for name, m in layers.items() if not m.training]
    assert all(m.affine for m in layers.values())

    def count(prefix):
        return sum(name.startswith(prefix) for name in layers)

    assert count('rpn_head') == 0  # as in the paper
    if full_size and info['det']:
        assert count('backbone.') == 1 + 3 * RESNET_BLOCKS[info['depth']] + 4
        assert count('neck.') == 8  # 4 lateral + 4 output convs
        # Cascade R-CNN has a 4conv1fc box head and a mask head per stage
        stages = 3 if info['det'] == 'cascade_mask_rcnn' else 1
        assert count('roi_head.bbox_head') == 4 * stages
        assert count('roi_head.mask_head') == (0 if info['det'] == 'faster_rcnn' else 4 * stages)
    else:
        assert count('backbone.') and count('neck.') and count('roi_head.bbox_head') \
            and count('roi_head.mask_head')


@pytest.mark.parametrize('path', ALL_CONFIGS)
def test_initialization(path):
    info, cfg = parse(path), config(path)
    pretrained_inits = [v for k, v in walk(cfg.model.to_dict())
                        if (k.endswith('init_cfg') and isinstance(v, dict)
                            and v.get('type') == 'Pretrained') or k.endswith('pretrained')]
    if info['pretrained'] and info['kind'] == 'demo':  # the mini paper's own pre-training
        assert pretrained_inits == [dict(type='Pretrained',
                                         checkpoint='work_dirs/mini_paper/pretrain/backbone.pth')]
        assert cfg.model.backbone.frozen_stages == PRETRAINED_FROZEN_STAGES
        assert cfg.model.backbone.norm_eval is False
        return
    if info['pretrained']:
        depth, norm = info['depth'], info['norm']
        checkpoint = (f'open-mmlab://detectron/resnet{depth}_gn' if norm == 'gn'
                      else f'torchvision://resnet{depth}')
        assert pretrained_inits == [dict(type='Pretrained', checkpoint=checkpoint)]
        assert cfg.model.backbone.init_cfg == pretrained_inits[0]
        # fine-tuned as the references were: stem + res2 frozen, the rest trains
        assert cfg.model.backbone.frozen_stages == PRETRAINED_FROZEN_STAGES
    else:
        assert pretrained_inits == []
        if info['stem'].endswith('_detectron_init'):  # random too: Caffe2's XavierFill
            assert [i['type'] for i in cfg.model.backbone.init_cfg] == ['Caffe2Xavier',
                                                                        'Constant']
        else:
            assert cfg.model.backbone.init_cfg is None
        assert cfg.model.backbone.frozen_stages == -1
    assert cfg.model.backbone.norm_eval is False


def _schedule_base(info: dict) -> str:
    if info['lsj']:
        return f'schedules/lsj_{info["epochs"]}e.py'
    return f'schedules/scratch_{info["multiple"]}x.py'


def _dataset_base(info: dict) -> str:
    task = 'detection' if info['det'] == 'faster_rcnn' else 'instance'
    return f'datasets/coco_{task}' + ('_lsj' if info['lsj'] else '_ms' if info['ms'] else '') \
        + '.py'


@functools.lru_cache(maxsize=None)
def base(rel: str):
    return load_config(str(CONFIGS / '_base_' / rel))


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if parse(p)['paper']])
def test_schedule_is_the_named_one(path):
    """The config's own schedule: the length its name says (the rule's values
    are the bases': test_bases.py)."""
    info, cfg = parse(path), config(path)
    if info['lsj']:
        assert cfg.train_cfg.schedule.total_iters == info['epochs'] * 118_000 // 64
        assert cfg.model.rpn_head.num_convs == 2  # detectron2's LSJ model
    else:
        if info['ms']:
            # scratch enhanced baselines 9x; their pretrained twins 9x, and 6x as in the paper
            assert info['multiple'] in ((9,) if info['kind'] == 'scratch' else (6, 9))
        else:
            assert info['multiple'] in PAPER_MULTIPLES
        assert cfg.train_cfg.schedule == dict(multiple=info['multiple'])
    assert cfg.train_cfg.to_dict() == base(_schedule_base(info)).train_cfg.to_dict()


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if parse(p)['paper']])
def test_training_data_is_the_named_one(path):
    """Single-scale, ``ms`` or ``lsj``; masks for Mask/Cascade Mask R-CNN only."""
    info, cfg = parse(path), config(path)
    named = base(_dataset_base(info))
    assert strip_scope(cfg.train_dataloader.to_dict()) == \
        strip_scope(named.train_dataloader.to_dict())
    assert strip_scope(cfg.val_dataloader.to_dict()) == strip_scope(named.val_dataloader.to_dict())


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if parse(p)['paper']])
def test_hooks_are_the_runtimes_list_for_the_arm(path):
    """Scratch configs run the from-scratch guard; their pretrained twins every hook but it."""
    info, cfg = parse(path), config(path)
    runtime = base('scratch_runtime.py').to_dict()
    arm_list = 'pretrained_custom_hooks' if info['pretrained'] else 'scratch_custom_hooks'
    assert strip_scope(cfg.to_dict()['custom_hooks']) == strip_scope(runtime[arm_list])


#: What the paper configs take from their bases unchanged.
SHARED_FROM_SCHEDULE = ('optim_wrapper', 'auto_scale_lr', 'param_scheduler', 'val_cfg',
                        'test_cfg')
SHARED_FROM_RUNTIME = ('default_hooks', 'log_processor', 'randomness', 'custom_imports',
                       'scratch_custom_hooks', 'pretrained_custom_hooks', 'default_scope')


def test_every_paper_config_keeps_its_bases():
    """One check over all paper configs (not one copy of each base value per config):
    what a config shares is exactly its bases'; a config that overrode a shared
    value by accident is named."""
    drifted = []
    for path in (p for p in ALL_CONFIGS if parse(p)['paper']):
        info, cfg = parse(path), config(path).to_dict()
        schedule, runtime = base(_schedule_base(info)).to_dict(), \
            base('scratch_runtime.py').to_dict()
        for key in SHARED_FROM_SCHEDULE:
            wanted = schedule[key]
            if info['variant'] == 'bf16' and key == 'optim_wrapper':
                wanted = dict(wanted, type='BF16OptimWrapper')
            if strip_scope(cfg.get(key)) != strip_scope(wanted):
                drifted.append(f'{path}: {key}')
        for key in SHARED_FROM_RUNTIME:
            if strip_scope(cfg.get(key)) != strip_scope(runtime.get(key)):
                drifted.append(f'{path}: {key}')
    assert not drifted


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if p.startswith('configs/pretrained/')])
def test_pretrained_twin_differs_from_its_scratch_config_only_by_init_and_freezing(path):
    info, cfg = parse(path), config(path)
    twin_name = info['stem'].replace('_ms_6x', '_ms_9x')
    twin = config(f'configs/scratch/{twin_name}.py')
    mine, theirs = strip_scope(cfg.to_dict()), strip_scope(twin.to_dict())
    assert mine['model']['backbone'].pop('init_cfg')['type'] == 'Pretrained'
    assert theirs['model']['backbone'].pop('init_cfg') is None
    assert mine['model']['backbone'].pop('frozen_stages') == PRETRAINED_FROZEN_STAGES
    assert theirs['model']['backbone'].pop('frozen_stages') == -1
    preprocessor = mine['model'].pop('data_preprocessor')
    theirs['model'].pop('data_preprocessor')
    if info['norm'] == 'gn':  # Detectron's GN weights: BGR minus the mean, std 1
        assert preprocessor['bgr_to_rgb'] is False and preprocessor['std'] == [1.0] * 3
    else:  # torchvision's weights: MMDetection's usual RGB normalization
        assert preprocessor == strip_scope(twin.model.data_preprocessor.to_dict())
    if info['stem'].endswith('_ms_6x'):
        assert mine['train_cfg'].pop('schedule') == dict(multiple=6)
        assert theirs['train_cfg'].pop('schedule') == dict(multiple=9)
    # the twin's hooks but the from-scratch guard, which would refuse the ImageNet weights
    assert mine.pop('custom_hooks') == [h for h in theirs.pop('custom_hooks')
                                        if h['type'] != 'ScratchGuardHook']
    assert mine == theirs


def _forward_smoke(model: nn.Module, with_mask: bool, syncbn: bool) -> None:
    """Widths fit together: features for SyncBN (no process group), losses for GN."""
    if syncbn:  # in eval mode SyncBN normalizes with running stats, no sync needed
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.zeros(1, 3, 64, 64))
        assert len(feats) == 5
        model.train()
        return
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, 64, 64)], num_items=[2],
                            num_classes=5, with_mask=with_mask)
    data = model.data_preprocessor(packed, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    assert torch.isfinite(total)


@pytest.mark.parametrize('path', sorted(
    {p for p in ALL_CONFIGS if p.startswith('configs/scratch/') and parse(p)['depth'] == 50
     and (parse(p)['multiple'] in (6, 9) or parse(p)['lsj'])} | {'configs/demo/mask_rcnn_gn_shapes.py'}))
def test_scaled_model_runs(path):
    info = parse(path)
    _forward_smoke(scaled_model(path), with_mask=info['det'] != 'faster_rcnn',
                   syncbn=info['norm'] == 'syncbn')


def test_the_issue_example_6x_at_batch_32():
    cfg = config('configs/scratch/mask_rcnn_r50_gn_6x.py')
    schedule = paper_schedule(**cfg.train_cfg.schedule, batch_size=cfg.train_cfg.base_batch_size)
    assert (schedule.total_iters, schedule.steps) == (540_000, (480_000, 520_000))
    at_32 = scale_schedule(schedule, 16 * 2)
    assert (at_32.total_iters, at_32.steps) == (270_000, (240_000, 260_000))
    assert cfg.optim_wrapper.optimizer.lr * 32 / cfg.auto_scale_lr.base_batch_size == 0.04


def test_full_size_r50_gn_mask_rcnn_matches_mmdetection_stock_scratch_model():
    """Built, not estimated: the same architecture as MMDetection's own scratch config."""
    ours = build_model(config('configs/scratch/mask_rcnn_r50_gn_6x.py').model, scale_down=False)
    stock_cfg = load_config('mmdet::scratch/mask-rcnn_r50-scratch_fpn_gn-all_6x_coco.py')
    stock = build_model(stock_cfg.model, scale_down=False)
    assert count_parameters(ours) == count_parameters(stock)
    assert count_parameters(ours) > 40_000_000
    shapes = lambda m: [(n, tuple(p.shape)) for n, p in m.named_parameters()]  # noqa: E731
    assert shapes(ours) == shapes(stock)
    assert [type(m).__name__ for _, m in norm_layers(ours)] == \
        [type(m).__name__ for _, m in norm_layers(stock)]
    del ours, stock


def test_scale_down_keeps_module_types():
    cfg = config('configs/scratch/cascade_mask_rcnn_r101_gn_ms_9x.py')
    full_cfg = copy.deepcopy(cfg.model)
    scaled = scale_down_model_cfg(full_cfg.to_dict())
    assert scaled['backbone']['base_channels'] == 8 and scaled['backbone']['depth'] == 101
    assert scaled['neck']['in_channels'] == [32, 64, 128, 256]
    assert scaled['neck']['norm_cfg']['num_groups'] == 4
    assert [h['type'] for h in scaled['roi_head']['bbox_head']] == ['Shared4Conv1FCBBoxHead'] * 3
    assert cfg.model.neck.in_channels == [256, 512, 1024, 2048]  # the original is untouched
