"""Every config in configs/ (but _base_): it loads, builds, and is the paper's recipe.

What each config must be is read from its name, the way a user reads it:
``{mask,faster,cascade_mask}_rcnn_r{50,101}_{gn,syncbn}_[ms_]{N}x`` is the
paper's N x 90k-iteration schedule with GN(32)/SyncBN everywhere but the RPN
head; ``..._lsj_{E}e`` is the modern LSJ recipe; ``configs/scratch`` has no
pretrained weights anywhere and ``configs/pretrained`` holds each scratch
config's twin with an ImageNet backbone. Models are built scaled down
(mmscratch.testing), which keeps every layer type and norm layer.
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

from mmscratch.engine.schedule import paper_schedule, scale_schedule
from mmscratch.testing import (build_model, count_parameters, load_config, norm_layers,
                               scale_down_model_cfg)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
ALL_CONFIGS = sorted(str(p.relative_to(REPO)) for p in CONFIGS.rglob('*.py')
                     if '_base_' not in p.relative_to(CONFIGS).parts)
NAME = re.compile(r'(?P<det>mask_rcnn|faster_rcnn|cascade_mask_rcnn)_r(?P<depth>50|101)_'
                  r'(?P<norm>gn|syncbn)_(?:(?P<ms>ms_)?(?P<multiple>\d)x|lsj_(?P<epochs>\d+)e)')
NORM_CLASSES = {'gn': nn.GroupNorm, 'syncbn': nn.SyncBatchNorm}
NORM_CFGS = {'gn': dict(type='GN', num_groups=32, requires_grad=True),
             'syncbn': dict(type='SyncBN', requires_grad=True)}
RESNET_BLOCKS = {50: 3 + 4 + 6 + 3, 101: 3 + 4 + 23 + 3}
PAPER_MULTIPLES = (2, 3, 4, 5, 6)
SPEED_VARIANTS = ('_bf16',)


def parse(path: str) -> dict:
    """What the config's directory and name promise.

    Names outside the paper's grid (the CPU demo, other families such as
    small-data regimes) still say their depth, norm and init when they can:
    ``_r50_``, ``_gn``, a ``_pretrained`` suffix.
    """
    stem = Path(path).stem
    kind = Path(path).parent.name
    depth = re.search(r'_r(50|101)_', stem)
    norm = re.search(r'_(gn|syncbn)(?:_|$)', stem)
    det = re.match(r'cascade_mask_rcnn|mask_rcnn|faster_rcnn', stem)
    info = dict(path=path, stem=stem, kind=kind,
                depth=int(depth[1]) if depth else None,
                norm=norm[1] if norm else None,
                det=det[0] if det else None,
                pretrained=kind == 'pretrained' or stem.endswith('_pretrained'),
                paper=False, ms=False, lsj=False, multiple=None, epochs=None)
    match = NAME.fullmatch(stem)
    if match and kind in ('scratch', 'pretrained'):
        info.update(paper=True, ms=bool(match['ms']), lsj=match['epochs'] is not None,
                    multiple=int(match['multiple']) if match['multiple'] else None,
                    epochs=int(match['epochs']) if match['epochs'] else None)
    return info


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


def strip_scope(node):
    if isinstance(node, dict):
        return {k: strip_scope(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(strip_scope(v) for v in node)
    return node


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
    # speed variants (same recipe, one lever on: mask_rcnn_r50_gn_6x_bf16) of paper configs
    variants = {s for s in scratch if s.endswith(SPEED_VARIANTS)}
    assert variants and all(re.sub(r'_bf16$', '', s) in expected for s in variants)
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
    # trainable and in training mode: nothing frozen, no norm_eval
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in layers.values())
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
    if info['pretrained']:
        depth, norm = info['depth'], info['norm']
        checkpoint = (f'open-mmlab://detectron/resnet{depth}_gn' if norm == 'gn'
                      else f'torchvision://resnet{depth}')
        assert pretrained_inits == [dict(type='Pretrained', checkpoint=checkpoint)]
        assert cfg.model.backbone.init_cfg == pretrained_inits[0]
    else:
        assert pretrained_inits == []
        assert cfg.model.backbone.init_cfg is None
    # fine-tuned or from scratch, nothing is frozen
    assert cfg.model.backbone.frozen_stages == -1
    assert cfg.model.backbone.norm_eval is False


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS
                                  if parse(p)['paper'] and not parse(p)['lsj']])
def test_paper_optimizer_and_schedule(path):
    info, cfg = parse(path), config(path)
    multiple = info['multiple']
    if info['ms']:
        # scratch enhanced baselines 9x; their pretrained twins 9x, and 6x as in the paper
        assert multiple in ((9,) if info['kind'] == 'scratch' else (6, 9))
    else:
        assert multiple in PAPER_MULTIPLES
    assert cfg.train_cfg.schedule == dict(multiple=multiple)
    assert cfg.train_cfg.base_batch_size == 16
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.02, momentum=0.9,
                                               weight_decay=1e-4)
    schedule = paper_schedule(**cfg.train_cfg.schedule, batch_size=16)
    total = 90_000 * multiple
    assert schedule.total_iters == total
    assert schedule.steps == (total - 60_000, total - 20_000)
    assert (schedule.warmup_iters, schedule.warmup_factor) == (500, pytest.approx(1 / 3))
    # 16 GPUs x 2 images: half the iterations, twice the LR (auto_scale_lr)
    at_32 = scale_schedule(schedule, 32)
    assert at_32.total_iters == total // 2
    assert at_32.steps == ((total - 60_000) // 2, (total - 20_000) // 2)
    assert at_32.warmup_iters == 250
    lr_32 = cfg.optim_wrapper.optimizer.lr * 32 / cfg.auto_scale_lr.base_batch_size
    assert lr_32 == pytest.approx(0.04)
    # validation every 30k iterations at batch 16 (scaled by the loop)
    assert cfg.train_cfg.val_interval == 30_000


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if parse(p)['lsj']])
def test_lsj_optimizer_and_schedule(path):
    epochs, cfg = parse(path)['epochs'], config(path)
    assert cfg.train_cfg.base_batch_size == 64
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.1, momentum=0.9,
                                               weight_decay=4e-5)
    schedule = paper_schedule(**cfg.train_cfg.schedule, batch_size=64)
    # detectron2 new_baselines: 184375 iterations per 100 epochs at batch 64,
    # steps at 163889 and 177546, multiplied for longer schedules
    factor = epochs // 100
    assert schedule.total_iters == 184_375 * factor == epochs * 118_000 // 64
    assert schedule.steps == (163_889 * factor, 177_546 * factor)
    assert (schedule.warmup_iters, schedule.warmup_factor) == (500, 0.067)
    assert cfg.model.rpn_head.num_convs == 2


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if parse(p)['paper']])
def test_training_data(path):
    info, cfg = parse(path), config(path)
    pipeline = strip_scope(cfg.train_dataloader.dataset.pipeline)
    resizes = [t for t in pipeline if 'Resize' in t['type']]
    if info['lsj']:
        assert resizes == [dict(type='RandomResize', scale=(1024, 1024),
                                ratio_range=(0.1, 2.0), keep_ratio=True)]
        assert any(t['type'] == 'RandomCrop' and t['crop_size'] == (1024, 1024)
                   for t in pipeline)
    elif info['ms']:
        assert resizes == [dict(type='RandomResize', scale=[(1333, 640), (1333, 800)],
                                keep_ratio=True)]
    else:
        assert resizes == [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]
    assert dict(type='RandomFlip', prob=0.5) in pipeline
    with_mask = info['det'] != 'faster_rcnn'
    load = next(t for t in pipeline if t['type'] == 'LoadAnnotations')
    assert load.get('with_mask', False) == with_mask
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'
    test_resizes = [t for t in cfg.val_dataloader.dataset.pipeline if 'Resize' in t['type']]
    assert strip_scope(test_resizes) == [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]


SCRATCH_HOOKS = ['SyncBNCheckHook', 'ScratchGuardHook', 'DataSeenHook', 'ConvergenceCurveHook',
                 'ExactResumeHook', 'DivergenceRecoveryHook', 'PlainDataCheckpointHook',
                 'RunInfoHook', 'PreemptionHook']


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if parse(p)['paper']])
def test_iteration_based_runtime(path):
    cfg = config(path)
    assert cfg.default_hooks.checkpoint.type == 'SafeCheckpointHook'
    assert cfg.default_hooks.checkpoint.by_epoch is False
    assert cfg.default_hooks.checkpoint.interval == 10_000
    assert cfg.default_hooks.checkpoint.max_keep_ckpts >= 3
    assert cfg.log_processor.by_epoch is False
    assert [h['type'] for h in cfg.custom_hooks].count('SyncBNCheckHook') == 1
    assert cfg.randomness.seed == 0  # ExactResumeHook needs a fixed seed


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if parse(p)['paper']])
def test_reliability_and_analysis_hooks(path):
    """Scratch configs run the from-scratch guard; their pretrained twins every hook but it."""
    info, cfg = parse(path), config(path)
    hooks = strip_scope(cfg.to_dict()['custom_hooks'])
    types = [h['type'] for h in hooks]
    if info['pretrained']:  # ImageNet weights on purpose: the guard would refuse them
        assert types == [t for t in SCRATCH_HOOKS if t != 'ScratchGuardHook']
    else:
        assert types == SCRATCH_HOOKS
        assert hooks[1] == dict(type='ScratchGuardHook', strict=True)
    by_type = {h['type']: h for h in hooks}
    assert by_type['ConvergenceCurveHook'] == dict(type='ConvergenceCurveHook', num_points=10)
    # counts synced with the logger, every 50 iterations
    assert cfg.default_hooks.logger.interval % by_type['DataSeenHook']['sync_interval'] == 0
    # custom_hooks is one of the two lists scratch_runtime.py defines once
    lists = strip_scope({k: cfg.to_dict()[k]
                         for k in ('scratch_custom_hooks', 'pretrained_custom_hooks')})
    assert [h['type'] for h in lists['scratch_custom_hooks']] == SCRATCH_HOOKS
    assert lists['pretrained_custom_hooks'] == [h for h in lists['scratch_custom_hooks']
                                                if h['type'] != 'ScratchGuardHook']
    assert hooks == lists['pretrained_custom_hooks' if info['pretrained']
                          else 'scratch_custom_hooks']


@pytest.mark.parametrize('path', ['configs/scratch/mask_rcnn_r50_syncbn_lsj_100e.py',
                                  'configs/pretrained/cascade_mask_rcnn_r101_gn_ms_6x.py'])
def test_hooks_build(path):
    import mmscratch  # noqa: F401  (registers the hooks)
    from mmdet.registry import HOOKS
    from mmengine.registry import init_default_scope
    from mmscratch.engine.hooks import SafeCheckpointHook
    init_default_scope('mmdet')
    cfg = config(path)
    assert type(HOOKS.build(cfg.default_hooks.checkpoint.to_dict())) is SafeCheckpointHook
    built = [HOOKS.build(h) for h in cfg.to_dict()['custom_hooks']]
    assert [type(h).__name__ for h in built] == [h['type'] for h in cfg.custom_hooks]


@pytest.mark.parametrize('path', [p for p in ALL_CONFIGS if p.startswith('configs/pretrained/')])
def test_pretrained_twin_differs_from_its_scratch_config_only_by_the_init(path):
    info, cfg = parse(path), config(path)
    twin_name = info['stem'].replace('_ms_6x', '_ms_9x')
    twin = config(f'configs/scratch/{twin_name}.py')
    mine, theirs = strip_scope(cfg.to_dict()), strip_scope(twin.to_dict())
    assert mine['model']['backbone'].pop('init_cfg')['type'] == 'Pretrained'
    assert theirs['model']['backbone'].pop('init_cfg') is None
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
