"""Training skips corrupt/missing images with a counted warning, and stops
cleanly when too many fail -- with dataloader workers too."""
import copy
import json
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

import mmscratch  # noqa: F401  (registers the transform and hook)
from mmscratch.datasets.robust_loading import RobustLoadImageFromFile, TooManyBadImages
from mmscratch.engine.hooks import BadImageHook
from mmscratch.datasets.shapes import generate_shapes_dataset
from mmscratch.datasets.shapes_dataset import ShapesDataset
from mmscratch.testing.runners import shutdown_workers

BAD_IDS = (2, 5, 9)  # missing, truncated, not an image


@pytest.fixture(scope='module')
def damaged(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes')
    generate_shapes_dataset(str(root), num_train=24, num_val=4, image_size=64, seed=0)
    images = {i['id']: i for i in json.loads(
        (root / 'annotations' / 'instances_train.json').read_text())['images']}
    path = {k: root / 'train' / images[k]['file_name'] for k in BAD_IDS}
    path[2].unlink()
    path[5].write_bytes(path[5].read_bytes()[:200])
    path[9].write_bytes(b'\x00' * 64)
    return root


def _pipeline(**robust):
    return [dict(type='RobustLoadImageFromFile', **robust),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='PackDetInputs')]


def _dataset(root, pipeline=None, **robust):
    with DefaultScope.overwrite_default_scope('mmdet'):  # as the Runner's default_scope
        return ShapesDataset(data_root=str(root) + '/',
                             ann_file='annotations/instances_train.json',
                             data_prefix=dict(img='train/'),
                             pipeline=pipeline or _pipeline(**robust))


def _loader(dataset):
    return next(t for t in dataset.pipeline.transforms if isinstance(t, RobustLoadImageFromFile))


def test_transform_returns_none_for_unloadable_files(damaged, tmp_path):
    transform = RobustLoadImageFromFile()
    (tmp_path / 'empty.png').write_bytes(b'')
    for name in ('missing.png', 'empty.png'):
        assert transform(dict(img_path=str(tmp_path / name))) is None
    good = damaged / 'train' / '000000.png'  # image id 1, undamaged
    assert transform(dict(img_path=str(good)))['img'].shape == (64, 64, 3)
    assert transform.stats.counts == (3, 2)
    # deep copies (config/pipeline copying) share the counters
    assert copy.deepcopy(transform).stats.counts == (3, 2)


@pytest.mark.parametrize('num_workers', [0, 2])
def test_bad_images_are_skipped_and_counted_across_workers(damaged, num_workers):
    dataset = _dataset(damaged, max_bad_fraction=0.5, min_attempts=20)
    loader = DataLoader(dataset, batch_size=4, num_workers=num_workers,
                        collate_fn=pseudo_collate)
    ids = [s.img_id for batch in loader for s in batch['data_samples']]
    assert len(ids) == len(dataset) and not set(ids) & set(BAD_IDS)
    attempts, failures = _loader(dataset).stats.counts  # seen from the main process
    assert failures >= len(BAD_IDS) and attempts == len(dataset) + failures


@pytest.mark.parametrize('num_workers', [0, 1])
def test_too_many_bad_images_stop_with_a_clear_error(damaged, num_workers):
    dataset = _dataset(damaged, max_bad_fraction=0.05, min_attempts=8)
    loader = DataLoader(dataset, batch_size=4, num_workers=num_workers,
                        collate_fn=pseudo_collate)
    with pytest.raises(TooManyBadImages, match=r'image loads failed .*tools/check_dataset.py'):
        for _ in loader:
            pass


class TinyModel(BaseModel):
    """Consumes packed detection inputs; just enough to train on them."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack([i.float().mean() / 255 for i in inputs])
        return dict(loss=((x * self.w - 1) ** 2).mean())


def _runner(root, work_dir, iters, **robust):
    return Runner(
        model=TinyModel(), work_dir=str(work_dir), experiment_name=uuid.uuid4().hex,
        train_dataloader=dict(
            dataset=dict(type='ShapesDataset', data_root=str(root) + '/',
                         ann_file='annotations/instances_train.json',
                         data_prefix=dict(img='train/'), pipeline=_pipeline(**robust)),
            sampler=dict(type='DefaultSampler', shuffle=True), batch_size=4,
            num_workers=1, persistent_workers=False, collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=iters),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1), checkpoint=None),
        custom_hooks=[dict(type='BadImageHook')],
        default_scope='mmdet')


def test_training_goes_on_and_the_log_counts_skipped_images(damaged, tmp_path):
    runner = _runner(damaged, tmp_path, 6, max_bad_fraction=0.5, min_attempts=20)
    runner.train()
    shutdown_workers(runner)
    assert runner.iter == 6
    skipped = runner.message_hub.get_info('bad_data/skipped')
    assert skipped >= 1
    log = open(runner.logger.handlers[-1].baseFilename).read()
    assert 'Skipped ' in log and 'training image load(s) so far' in log
    assert 'Skipping training image' in log  # the worker's per-image warning


def test_the_hook_stops_training_when_the_cap_is_passed(damaged, tmp_path):
    hook = BadImageHook()
    dataset = _dataset(damaged, max_bad_fraction=0.25, min_attempts=5)
    transform = _loader(dataset)

    class Runner_:
        train_dataloader = DataLoader(dataset)
        iter = 41
        logger = __import__('logging').getLogger('test')
        from mmengine.logging import MessageHub
        message_hub = MessageHub.get_instance(uuid.uuid4().hex)

    hook.before_train(Runner_)
    for ok in [True] * 4 + [False]:
        transform.stats.record(ok, 'x.png', 'test')
    hook.after_train_iter(Runner_, 0)  # 1 of 5 (20%): under the cap, training goes on
    assert Runner_.message_hub.get_info('bad_data/skipped') == 1
    transform.stats.record(False, 'y.png', 'test')  # 2 of 6 (33%)
    with pytest.raises(TooManyBadImages, match='stopping at iteration 42'):
        hook.after_train_iter(Runner_, 0)


def test_hook_warns_without_robust_loader(tmp_path, damaged, caplog):
    hook = BadImageHook()
    dataset = _dataset(damaged, pipeline=[dict(type='LoadImageFromFile')])

    class Runner_:
        train_dataloader = DataLoader(dataset)
        logger = __import__('logging').getLogger('test-bad-image-hook')

    with caplog.at_level('WARNING', logger='test-bad-image-hook'):
        hook.before_train(Runner_)
    assert 'no RobustLoadImageFromFile' in caplog.text
