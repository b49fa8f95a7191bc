"""configs/small_data/: the paper's settings, our documented choices, and the twins."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmscratch.analysis.small_data import (REGIMES, SMALL_DATA_GAMMA, SMALL_DATA_LR,
                                           interpolated_iters)
from mmscratch.engine.hooks.convergence_curve_hook import spread_eval_points
from mmscratch.recipe.schedule import paper_schedule

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
TAGS = ('35k', '10k', '3.5k', '1k')
ARMS = ('scratch', 'pretrained')


def load(path):
    return Config.fromfile(str(path))


@pytest.fixture(scope='module')
def configs():
    return {(tag, arm): load(CONFIGS / 'small_data' / f'mask_rcnn_r50_gn_{tag}_{arm}.py')
            for tag in TAGS for arm in ARMS}


@pytest.fixture(scope='module')
def paper_twins():
    return {arm: load(CONFIGS / arm / 'mask_rcnn_r50_gn_2x.py') for arm in ARMS}


def test_paper_values_and_the_10k_lengths(configs):
    for (tag, arm), cfg in configs.items():
        assert cfg.optim_wrapper.optimizer.lr == SMALL_DATA_LR == 0.04
        assert cfg.train_cfg.schedule.gamma == SMALL_DATA_GAMMA == 0.02
        resize = [t for t in cfg.train_dataloader.dataset.pipeline if 'Resize' in t.type]
        assert resize == [dict(type='RandomResize', scale=[(1333, 512), (1333, 800)],
                               keep_ratio=True)], (tag, arm)
        assert cfg.train_dataloader.dataset.ann_file == \
            f'annotations/instances_train2017_{tag}.json'
    assert configs['10k', 'pretrained'].train_cfg.schedule.total_iters == 60_000
    assert configs['10k', 'scratch'].train_cfg.schedule.total_iters == 220_000


def test_schedules_follow_the_documented_rule(configs):
    for (tag, arm), cfg in configs.items():
        schedule = dict(cfg.train_cfg.schedule)
        schedule['drops_before_end'] = tuple(schedule['drops_before_end'])
        assert schedule == REGIMES[tag].schedule(arm), (tag, arm)
        resolved = paper_schedule(**schedule, batch_size=cfg.train_cfg.base_batch_size)
        assert resolved.steps[0] > resolved.warmup_iters
        assert resolved.lr_factor(resolved.total_iters - 1) == pytest.approx(0.02 ** 2)
        assert cfg.train_cfg.val_interval == resolved.total_iters
    # more data, longer schedules; scratch always longer than pretrained
    for arm in ARMS:
        lengths = [REGIMES[t].iters(arm) for t in ('1k', '3.5k', '10k', '35k')]
        assert lengths == sorted(lengths) and len(set(lengths)) == 4
    assert all(r.scratch_iters > 2 * r.pretrained_iters for r in REGIMES.values())
    assert interpolated_iters(10_000, 'scratch') == 220_000  # passes through the anchor


def test_evaluation_is_dense_enough_to_catch_the_peak(configs):
    runtime_cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'scratch_runtime.py'))
    for (tag, arm), cfg in configs.items():
        hooks = {h.type: h for h in cfg.custom_hooks}
        runtime = {h['type'] for h in (runtime_cfg.scratch_custom_hooks if arm == 'scratch'
                                       else runtime_cfg.pretrained_custom_hooks)}
        assert set(hooks) == runtime and len(hooks) == len(cfg.custom_hooks), (tag, arm)
        # the runtime's own list (small_data_runtime.py derives it), 24 curve points
        own = cfg.scratch_custom_hooks if arm == 'scratch' else cfg.pretrained_custom_hooks
        assert cfg.custom_hooks == own
        assert hooks['ConvergenceCurveHook'].num_points == 24
        assert ('ScratchGuardHook' in hooks) == (arm == 'scratch')
        schedule = paper_schedule(**cfg.train_cfg.schedule)
        points = spread_eval_points(schedule.total_iters, schedule.steps,
                                    hooks['ConvergenceCurveHook'].num_points)
        gaps = [b - a for a, b in zip([0] + points, points)]
        assert max(gaps) <= schedule.total_iters / 19, (tag, arm)
        assert cfg.default_hooks.checkpoint.save_best == 'coco/bbox_mAP'
        assert cfg.default_hooks.checkpoint.rule == 'greater'


def test_twins_share_the_paper_configs_model(configs, paper_twins):
    """Scratch and pretrained twins are the paper configs' models, unchanged."""
    for (tag, arm), cfg in configs.items():
        assert cfg.model.to_dict() == paper_twins[arm].model.to_dict(), (tag, arm)
        twin = paper_twins[arm]
        assert cfg.val_dataloader.to_dict() == twin.val_dataloader.to_dict()
        assert cfg.auto_scale_lr == twin.auto_scale_lr
        ours = cfg.optim_wrapper.to_dict()
        theirs = twin.optim_wrapper.to_dict()
        ours['optimizer'].pop('lr'), theirs['optimizer'].pop('lr')
        assert ours == theirs
    pre = configs['1k', 'pretrained'].model.backbone.init_cfg
    assert pre.type == 'Pretrained' and configs['1k', 'scratch'].model.backbone.init_cfg is None


@pytest.mark.parametrize('tag', TAGS)
def test_dataset_bases_change_only_the_training_annotations(tag):
    full = load(CONFIGS / '_base_' / 'datasets' / 'coco_instance.py')
    subset = load(CONFIGS / '_base_' / 'datasets' / f'coco_instance_{tag}.py')
    assert subset.train_dataloader.dataset.ann_file == f'annotations/instances_train2017_{tag}.json'
    subset.train_dataloader.dataset.ann_file = full.train_dataloader.dataset.ann_file
    assert subset.to_dict() == full.to_dict()


def test_the_35k_twins_build(configs):
    """Models, train pipeline and hooks of a regime build (no weights are loaded)."""
    import mmscratch  # noqa: F401  (registers the hooks)
    from mmdet.registry import HOOKS, MODELS, TRANSFORMS
    init_default_scope('mmdet')
    for arm in ARMS:
        cfg = configs['35k', arm]
        model = MODELS.build(cfg.model)
        assert type(model.roi_head.bbox_head).__name__ == 'Shared4Conv1FCBBoxHead'
        assert len(cfg.train_dataloader.dataset.pipeline) == 5
        for transform in cfg.train_dataloader.dataset.pipeline:
            TRANSFORMS.build(transform)
        for hook in cfg.custom_hooks:
            HOOKS.build(hook)
