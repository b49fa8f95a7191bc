"""The shared bases of configs/ hold the recipe's values, checked once here.

Every paper config is a few lines on these bases (configs/_base_/); what
each config adds of its own (model, norm, schedule length, data
augmentation, init) is checked per config in test_all_configs.py, which
also checks that every config kept the bases' values.
"""
from pathlib import Path

import pytest

from mmscratch.recipe.schedule import paper_schedule, scale_schedule
from mmscratch.testing import strip_scope
from mmscratch.utils.config_loading import load_config

BASE = Path(__file__).resolve().parents[2] / 'configs' / '_base_'
SCRATCH_HOOKS = ['SyncBNCheckHook', 'ScratchGuardHook', 'DataSeenHook', 'ConvergenceCurveHook',
                 'ExactResumeHook', 'DivergenceRecoveryHook', 'PlainDataCheckpointHook',
                 'RunInfoHook', 'PreemptionHook']


def base(rel: str):
    return load_config(str(BASE / rel))


@pytest.mark.parametrize('multiple', [1, 2, 3, 4, 5, 6, 9])
def test_paper_schedules(multiple):
    cfg = base(f'schedules/scratch_{multiple}x.py')
    assert cfg.train_cfg == dict(type='ScratchIterBasedTrainLoop', schedule=dict(multiple=multiple),
                                 base_batch_size=16, val_interval=30_000)
    assert [s['type'] for s in cfg.param_scheduler] == ['ScratchScheduleLR']
    assert cfg.optim_wrapper == dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.))
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
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
    assert cfg.optim_wrapper.optimizer.lr * 32 / cfg.auto_scale_lr.base_batch_size == \
        pytest.approx(0.04)


@pytest.mark.parametrize('epochs', [100, 200, 400])
def test_lsj_schedules(epochs):
    cfg = base(f'schedules/lsj_{epochs}e.py')
    assert cfg.train_cfg.base_batch_size == 64
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.1, momentum=0.9,
                                               weight_decay=4e-5)
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=64)
    schedule = paper_schedule(**cfg.train_cfg.schedule, batch_size=64)
    # detectron2 new_baselines: 184375 iterations per 100 epochs at batch 64,
    # steps at 163889 and 177546, multiplied for longer schedules
    factor = epochs // 100
    assert schedule.total_iters == 184_375 * factor == epochs * 118_000 // 64
    assert schedule.steps == (163_889 * factor, 177_546 * factor)
    # detectron2's warm-up is a fraction of training (warmup_length=500 / max_iter),
    # so 500, 1000 and 2000 iterations at 100, 200 and 400 epochs
    assert (schedule.warmup_iters, schedule.warmup_factor) == (500 * factor, 0.067)


def test_runtime():
    cfg = base('scratch_runtime.py')
    assert cfg.custom_imports == dict(imports=['mmscratch'], allow_failed_imports=False)
    assert strip_scope(cfg.default_hooks.checkpoint.to_dict()) == dict(
        type='SafeCheckpointHook', by_epoch=False,
        interval=10_000, max_keep_ckpts=3)
    assert cfg.log_processor.by_epoch is False
    assert cfg.randomness.seed == 0  # ExactResumeHook needs a fixed seed
    hooks = strip_scope(cfg.to_dict()['scratch_custom_hooks'])
    assert [h['type'] for h in hooks] == SCRATCH_HOOKS
    assert hooks[1] == dict(type='ScratchGuardHook', strict=True)
    by_type = {h['type']: h for h in hooks}
    assert by_type['ConvergenceCurveHook'] == dict(type='ConvergenceCurveHook', num_points=10)
    # counts synced with the logger, every 50 iterations
    assert cfg.default_hooks.logger.interval % by_type['DataSeenHook']['sync_interval'] == 0
    # the pretrained twins' list: every hook but the from-scratch guard
    assert strip_scope(cfg.to_dict()['pretrained_custom_hooks']) == [
        h for h in hooks if h['type'] != 'ScratchGuardHook']
    assert strip_scope(cfg.to_dict()['custom_hooks']) == hooks


@pytest.mark.parametrize('dataset, resizes', [
    ('coco_instance.py', [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]),
    ('coco_instance_ms.py', [dict(type='RandomResize', scale=[(1333, 640), (1333, 800)],
                                  keep_ratio=True)]),
    ('coco_instance_lsj.py', [dict(type='RandomResize', scale=(1024, 1024),
                                   ratio_range=(0.1, 2.0), keep_ratio=True)]),
    ('coco_detection.py', [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]),
    ('coco_detection_ms.py', [dict(type='RandomResize', scale=[(1333, 640), (1333, 800)],
                                   keep_ratio=True)]),
])
def test_training_data(dataset, resizes):
    cfg = base(f'datasets/{dataset}')
    pipeline = strip_scope(cfg.train_dataloader.dataset.pipeline)
    assert [t for t in pipeline if 'Resize' in t['type']] == resizes
    if 'lsj' in dataset:
        assert any(t['type'] == 'RandomCrop' and t['crop_size'] == (1024, 1024)
                   for t in pipeline)
    assert dict(type='RandomFlip', prob=0.5) in pipeline
    load = next(t for t in pipeline if t['type'] == 'LoadAnnotations')
    assert load.get('with_mask', False) == dataset.startswith('coco_instance')
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'
    test_resizes = [t for t in cfg.val_dataloader.dataset.pipeline if 'Resize' in t['type']]
    assert strip_scope(test_resizes) == [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]


@pytest.mark.parametrize('runtime_list', ['scratch_custom_hooks', 'pretrained_custom_hooks'])
def test_hooks_build(runtime_list):
    import mmscratch  # noqa: F401  (registers the hooks)
    from mmdet.registry import HOOKS
    from mmengine.registry import init_default_scope
    from mmscratch.engine.hooks import SafeCheckpointHook
    init_default_scope('mmdet')
    cfg = base('scratch_runtime.py')
    assert type(HOOKS.build(cfg.default_hooks.checkpoint.to_dict())) is SafeCheckpointHook
    hooks = cfg.to_dict()[runtime_list]
    assert [type(HOOKS.build(h)).__name__ for h in hooks] == [h['type'] for h in hooks]
