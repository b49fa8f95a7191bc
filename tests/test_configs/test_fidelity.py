"""docs/configs.md's fidelity table, row by row, against the resolved configs.

Each row of the table (between ``<!-- fidelity:start -->`` and ``<!--
fidelity:end -->``) has a check here that computes, from the resolved configs
and built (scaled-down) models, the facts its "ours" column states; the test
fails if a row has no check, a check has no row, a verdict is not one of the
documented kinds, or the configs stop saying what the row says.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List

import pytest
import torch.nn as nn

from mmscratch.recipe.schedule import paper_schedule
from mmscratch.testing import build_model, count_parameters, norm_layers

from .test_all_configs import ALL_CONFIGS, REPO, config, parse, scaled_model, strip_scope, walk

DOC = REPO / 'docs' / 'configs.md'
R50_3X = 'configs/scratch/mask_rcnn_r50_gn_3x.py'
VERDICTS = ('exact', 'differs (documented)', 'differs (documented; switch)',
            'not comparable (documented)')


def fidelity_rows() -> Dict[str, Dict[str, str]]:
    text = DOC.read_text()
    block = text.split('<!-- fidelity:start -->')[1].split('<!-- fidelity:end -->')[0]
    rows = {}
    for line in block.strip().splitlines()[2:]:  # header and separator
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        assert len(cells) == 4, line
        item, reference, ours, verdict = cells
        assert item not in rows, f'duplicate row {item}'
        rows[item] = dict(reference=reference, ours=ours, verdict=verdict)
    return rows


def paper_configs(kind=None):
    return [p for p in ALL_CONFIGS if parse(p)['paper'] and not parse(p)['lsj']
            and (kind is None or parse(p)['kind'] == kind)]


def one_value(describe, paths) -> List[str]:
    """The one description that every config in ``paths`` gives: the row holds for all."""
    found = {describe(path) for path in paths}
    assert len(found) == 1, found
    return [found.pop()]


def plain(value):
    return strip_scope(value.to_dict() if hasattr(value, 'to_dict') else value)


# ----------------------------------------------------------------- the checks

def norm_placement() -> List[str]:
    layers = dict(norm_layers(scaled_model(R50_3X)))
    assert all(isinstance(m, nn.GroupNorm) for m in layers.values())

    def count(prefix):
        return sum(name.startswith(prefix) for name in layers)
    return [f"backbone {count('backbone.')}, FPN {count('neck.')}, box head "
            f"{count('roi_head.bbox_head.')}, mask head {count('roi_head.mask_head.')}, "
            f"RPN head {count('rpn_head.')}"]


def gn_groups_and_epsilon() -> List[str]:
    groups = {v['num_groups'] for k, v in walk(plain(config(R50_3X).model))
              if k.endswith('norm_cfg')}
    eps = {m.eps for _, m in norm_layers(scaled_model(R50_3X))}
    assert len(groups) == len(eps) == 1
    return [f'{groups.pop()} groups, eps {eps.pop():g}']


def box_head() -> List[str]:
    cfg = config(R50_3X).model.roi_head
    head = scaled_model(R50_3X).roi_head.bbox_head
    size = cfg.bbox_roi_extractor.roi_layer.output_size
    return [f'{cfg.bbox_head.type}: {len(head.shared_convs)} convs of '
            f'{cfg.bbox_head.conv_out_channels} + {len(head.shared_fcs)} fc of '
            f'{cfg.bbox_head.fc_out_channels}, RoI {size}x{size}']


def mask_head() -> List[str]:
    cfg = config(R50_3X).model
    head = scaled_model(R50_3X).roi_head.mask_head
    size = cfg.roi_head.mask_roi_extractor.roi_layer.output_size
    mask = cfg.train_cfg.rcnn.mask_size
    return [f'{cfg.roi_head.mask_head.type}: {len(head.convs)} convs of '
            f'{cfg.roi_head.mask_head.conv_out_channels}, RoI {size}x{size}, masks {mask}x{mask}']


def parameter_count() -> List[str]:
    model = build_model(config('configs/scratch/mask_rcnn_r50_gn_6x.py').model, scale_down=False)
    return [f'{count_parameters(model):,} parameters']


def optimizer() -> List[str]:
    def describe(path):
        opt = config(path).optim_wrapper
        return (f'{opt.optimizer.type} lr {opt.optimizer.lr:g}, momentum '
                f'{opt.optimizer.momentum:g}, weight_decay {opt.optimizer.weight_decay:g}, '
                f'norm_decay_mult {opt.paramwise_cfg.norm_decay_mult:g}')
    return one_value(describe, paper_configs())


def bias_lr_and_decay() -> List[str]:
    from mmengine.optim import build_optim_wrapper
    cfg = config(R50_3X)
    paramwise = cfg.optim_wrapper.paramwise_cfg
    ours = f"bias_lr_mult {paramwise.get('bias_lr_mult', 1):g}, " \
           f"bias_decay_mult {paramwise.get('bias_decay_mult', 1):g}"
    # the documented switch gives Detectron's rule: biases 2x LR, no decay; GN untouched
    model = scaled_model(R50_3X)
    names = {id(p): n for n, p in model.named_parameters()}
    documented = fidelity_rows()['bias LR and decay']['ours']
    options = dict(re.findall(r'optim_wrapper\.paramwise_cfg\.(\w+)=([0-9.]+)', documented))
    assert set(options) == {'bias_lr_mult', 'bias_decay_mult'}
    wrapper_cfg = plain(cfg.optim_wrapper)
    wrapper_cfg['paramwise_cfg'].update({k: float(v) for k, v in options.items()})
    groups = {names[id(g['params'][0])]: g
              for g in build_optim_wrapper(model, wrapper_cfg).optimizer.param_groups}
    lr, wd = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay
    assert (groups['roi_head.bbox_head.fc_cls.bias']['lr'],
            groups['roi_head.bbox_head.fc_cls.bias']['weight_decay']) == (2 * lr, 0)
    assert (groups['backbone.gn1.bias']['lr'], groups['backbone.gn1.bias']['weight_decay']) \
        == (lr, 0)
    assert (groups['backbone.conv1.weight']['lr'],
            groups['backbone.conv1.weight']['weight_decay']) == (lr, wd)
    return [ours]


def warm_up() -> List[str]:
    def describe(path):
        s = paper_schedule(**config(path).train_cfg.schedule, batch_size=16)
        return f'linear, {s.warmup_iters} iterations from {s.warmup_factor:.3f} at batch 16'
    return one_value(describe, paper_configs())


def lr_steps() -> List[str]:
    multiples = set()
    for path in paper_configs():
        s = paper_schedule(**config(path).train_cfg.schedule, batch_size=16)
        assert s.steps == (s.total_iters - 60_000, s.total_iters - 20_000) and s.gamma == 0.1
        multiples.add(s.total_iters // 90_000)
    assert multiples == {2, 3, 4, 5, 6, 9}
    return ['x0.1 at total - 60,000 and total - 20,000, for 2x-6x and 9x']


def sampling() -> List[str]:
    def describe(path):
        train_cfg = config(path).model.train_cfg
        rpn, rcnn = train_cfg.rpn.sampler, train_cfg.rcnn
        rcnn = rcnn[0] if isinstance(rcnn, (list, tuple)) else rcnn
        return (f'RPN {rpn.num} anchors ({rpn.pos_fraction:.0%} positive), RoIs '
                f'{rcnn.sampler.num} ({rcnn.sampler.pos_fraction:.0%} positive)')
    return one_value(describe, paper_configs())


def proposals() -> List[str]:
    found: Dict[bool, set] = {True: set(), False: set()}
    for path in paper_configs():
        model = config(path).model
        train, test = model.train_cfg.rpn_proposal, model.test_cfg.rpn
        found[parse(path)['det'] == 'cascade_mask_rcnn'].add(
            f'train: {train.nms_pre} before NMS, {train.max_per_img} kept; test: '
            f'{test.nms_pre} before NMS, {test.max_per_img} kept')
    assert len(found[False]) == len(found[True]) == 1
    cascade = found[True].pop()
    return [found[False].pop(), 'Cascade R-CNN: ' + cascade.split(';')[0].replace('train: ', '')]


def pipeline_and_nms_at_test() -> List[str]:
    def describe(path):
        cfg = config(path)
        resize = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'Resize'][0]
        rcnn = cfg.model.test_cfg.rcnn
        return (f"{min(resize['scale'])} / {max(resize['scale'])}, score_thr "
                f'{rcnn.score_thr:g}, NMS {rcnn.nms.iou_threshold:g}, '
                f'{rcnn.max_per_img} per image')
    return one_value(describe, paper_configs())


def training_data() -> List[str]:
    def describe(path):
        pipeline = config(path).train_dataloader.dataset.pipeline
        resize = [t for t in pipeline if 'Resize' in t['type']]
        flip = [t for t in pipeline if t['type'] == 'RandomFlip']
        assert [t['type'] for t in resize] == ['Resize'] and len(flip) == 1
        scale = resize[0]['scale']
        return f'shorter side {min(scale)}, longer <= {max(scale)}, flip {flip[0]["prob"]:g}'
    return one_value(describe, [p for p in paper_configs() if not parse(p)['ms']])


def scale_augmentation() -> List[str]:
    def describe(path):
        resize = [t for t in config(path).train_dataloader.dataset.pipeline
                  if 'Resize' in t['type']]
        assert [t['type'] for t in resize] == ['RandomResize']
        shorter = sorted(min(s) for s in resize[0]['scale'])
        return f'shorter side uniform in [{shorter[0]}, {shorter[-1]}]'
    return one_value(describe, [p for p in paper_configs() if parse(p)['ms']])


def input_normalization() -> List[str]:
    def describe(path):
        pre = config(path).model.data_preprocessor
        return (f"{'RGB' if pre.bgr_to_rgb else 'BGR'}, mean "
                f"{'/'.join(f'{v:g}' for v in pre.mean)}, divided by std "
                f"{'/'.join(f'{v:g}' for v in pre.std)}")
    return one_value(describe, paper_configs('scratch'))


def roi_align() -> List[str]:
    layer = config(R50_3X).model.roi_head.bbox_roi_extractor.roi_layer
    built = scaled_model(R50_3X).roi_head.bbox_roi_extractor.roi_layers[0]
    assert type(built).__name__ == 'RoIAlign'
    return [f"MMCV's RoIAlign: sampling_ratio={layer.sampling_ratio}, aligned={built.aligned}"]


def frozen_scratch() -> List[str]:
    values = {config(p).model.backbone.frozen_stages for p in ALL_CONFIGS
              if p.startswith('configs/scratch/')}
    assert len(values) == 1
    return [f'frozen_stages={values.pop()}']


def frozen_pretrained() -> List[str]:
    twins = [p for p in ALL_CONFIGS if parse(p)['pretrained']]
    assert any('small_data' in p for p in twins) and any('_lsj_' in p for p in twins) \
        and any('cascade' in p for p in twins)
    values = {config(p).model.backbone.frozen_stages for p in twins}
    assert len(values) == 1
    return [f'frozen_stages={values.pop()} in every pretrained twin', '`small_data` too']


def backbone_init() -> List[str]:
    model = scaled_model(R50_3X)
    assert config(R50_3X).model.backbone.init_cfg is None  # so the ResNet default applies
    kaiming = model.backbone.init_cfg[0]
    assert kaiming['type'] == 'Kaiming' and kaiming['layer'] == 'Conv2d'
    ours = (f"{kaiming['type']} {kaiming.get('distribution', 'normal')} "
            f"{kaiming.get('mode', 'fan_out')}")
    switch = config('configs/scratch/mask_rcnn_r50_gn_3x_detectron_init.py').model.backbone
    return [ours, f"configs/_base_/inits/detectron_init.py` ({switch.init_cfg[0]['type']})"]


def fpn_and_head_init() -> List[str]:
    model = scaled_model(R50_3X)
    fpn = model.neck.init_cfg
    assert fpn['type'] == 'Xavier' and fpn['layer'] == 'Conv2d'
    head = model.roi_head.bbox_head.init_cfg

    def overrides(init):
        override = init.get('override', [])
        return override if isinstance(override, list) else [override]
    fc = [c for c in head if any(o.get('name') == 'shared_fcs' for o in overrides(c))]
    normal = {o['name']: c['std'] for c in head if c['type'] == 'Normal' for o in overrides(c)}
    rpn = model.rpn_head.init_cfg
    assert fc[0]['type'] == 'Xavier' and rpn['type'] == 'Normal'
    return [f"FPN: Xavier {fpn.get('distribution', 'normal')} (Glorot",
            f"RPN and predictors Normal {rpn['std']:g} / {normal['fc_reg']:g}",
            f"box-head fc Xavier {fc[0]['distribution']} (Glorot)"]


LSJ = {e: f'configs/scratch/mask_rcnn_r50_syncbn_lsj_{e}e.py' for e in (100, 200, 400)}


def lsj_data_optimizer_steps() -> List[str]:
    cfg = config(LSJ[100])
    pipeline = cfg.train_dataloader.dataset.pipeline
    resize = [t for t in pipeline if t['type'] == 'RandomResize'][0]
    crop = [t for t in pipeline if t['type'] == 'RandomCrop'][0]
    batch = cfg.train_cfg.base_batch_size
    s = paper_schedule(**cfg.train_cfg.schedule, batch_size=batch)
    opt = cfg.optim_wrapper
    amp = 'AMP' if opt.type == 'AmpOptimWrapper' else opt.type
    low, high = resize['ratio_range']
    return [f"{crop['crop_size'][0]} crop, scale {low:.1f}-{high:.1f}, batch {batch}, "
            f"{opt.optimizer.type} {opt.optimizer.lr:g}, weight decay "
            f"{opt.optimizer.weight_decay:g}, {amp}, {s.total_iters:,} iterations, steps "
            f"{s.steps[0]:,} / {s.steps[1]:,} per 100 epochs"]


def lsj_warm_up() -> List[str]:
    warmups, factors = [], set()
    for epochs, path in LSJ.items():
        cfg = config(path)
        s = paper_schedule(**cfg.train_cfg.schedule, batch_size=cfg.train_cfg.base_batch_size)
        warmups.append(s.warmup_iters)
        factors.add(s.warmup_factor)
    assert len(factors) == 1
    return [f"{', '.join(map(str, warmups))} iterations from {factors.pop():g}"]


def lsj_backbone_style() -> List[str]:
    model = config(LSJ[100]).model
    style = model.backbone.get('style', 'pytorch')  # MMDetection's ResNet default
    pre = model.data_preprocessor
    assert pre.bgr_to_rgb and pre.std != [1.0, 1.0, 1.0]
    return [f'{style} style', 'RGB, divided by the std']


def cascade_mask_heads() -> List[str]:
    model = scaled_model('configs/scratch/cascade_mask_rcnn_r50_gn_ms_9x.py')
    return [f'{len(model.roi_head.mask_head)} mask heads, one per stage']


def precise_bn() -> List[str]:
    for path in ALL_CONFIGS:
        if parse(path)['norm'] == 'syncbn':
            hooks = [h['type'] for h in config(path).custom_hooks] + \
                    [h['type'] for h in config(path).default_hooks.values()]
            assert not any('Precise' in t for t in hooks), path
    return ["none: SyncBN's running statistics"]


def detectron2_3x_scratch() -> List[str]:
    resize = [t for t in config(R50_3X).train_dataloader.dataset.pipeline if 'Resize' in t['type']]
    assert [t['type'] for t in resize] == ['Resize']
    return [f"single scale {min(resize[0]['scale'])}"]


def tta_views_and_merge() -> List[str]:
    from mmscratch.apis.tta import enable_tta
    from mmscratch.utils.config_loading import load_config
    cfg = load_config(str(REPO / 'configs/scratch/mask_rcnn_r50_gn_ms_9x.py'))  # it is changed
    tta_cfg = cfg.tta_model.tta_cfg
    views = enable_tta(cfg)
    return [f'{views} views, {cfg.tta_model.type}: NMS {tta_cfg.nms.iou_threshold:g}']


CHECKS: Dict[str, Callable[[], List[str]]] = {
    'norm placement': norm_placement,
    'GN groups and epsilon': gn_groups_and_epsilon,
    'box head': box_head,
    'mask head': mask_head,
    'parameter count': parameter_count,
    'optimizer': optimizer,
    'bias LR and decay': bias_lr_and_decay,
    'warm-up': warm_up,
    'LR steps': lr_steps,
    'sampling': sampling,
    'proposals': proposals,
    'test': pipeline_and_nms_at_test,
    'training data': training_data,
    'scale augmentation (ms)': scale_augmentation,
    'input normalization': input_normalization,
    'RoIAlign': roi_align,
    'frozen stages, scratch': frozen_scratch,
    'frozen stages, pretrained': frozen_pretrained,
    'backbone init': backbone_init,
    'FPN and head init': fpn_and_head_init,
    'LSJ data, optimizer, steps': lsj_data_optimizer_steps,
    'LSJ warm-up': lsj_warm_up,
    'LSJ backbone style': lsj_backbone_style,
    'Cascade mask heads': cascade_mask_heads,
    'PreciseBN': precise_bn,
    'detectron2 3x GN scratch': detectron2_3x_scratch,
    'test-time augmentation': tta_views_and_merge,
}


def test_every_row_has_a_check_and_every_check_a_row():
    assert list(fidelity_rows()) == list(CHECKS)


@pytest.mark.parametrize('item', list(CHECKS))
def test_fidelity_row(item):
    row = fidelity_rows()[item]
    assert row['verdict'] in VERDICTS, row['verdict']
    assert row['reference'] and row['ours']
    for fact in CHECKS[item]():
        assert fact in row['ours'], f'{item}: the configs say {fact!r}; the table says ' \
                                    f'{row["ours"]!r}'
