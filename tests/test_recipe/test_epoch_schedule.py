"""The paper's rule in epochs, for EpochBasedTrainLoop users with their own data."""
import json
import math
from unittest import mock

import pytest
import torch
from mmengine.optim.scheduler import LinearLR, MultiStepLR

from mmscratch.recipe import apply_epoch_schedule, epoch_schedule, train_dataset_size
from mmscratch.utils.config_loading import load_config

COCO_TRAIN = 118_287


def logged(call):
    with mock.patch('mmscratch.recipe.epoch_schedule.print_log') as log:
        result = call()
    (message,) = [c.args[0] for c in log.call_args_list]
    return result, message


def test_6x_on_coco_at_batch_16():
    result, message = logged(lambda: epoch_schedule('6x', dataset_size=COCO_TRAIN,
                                                    batch_size=16))
    assert result['train_cfg'] == dict(type='EpochBasedTrainLoop', max_epochs=74,
                                       val_interval=1)
    warmup, steps = result['param_scheduler']
    assert warmup == dict(type='LinearLR', start_factor=pytest.approx(1 / 3), by_epoch=False,
                          begin=0, end=500)
    # 480k and 520k iterations x 16 images = 64.9 and 70.3 epochs of COCO
    assert steps == dict(type='MultiStepLR', by_epoch=True, begin=0, end=74,
                         milestones=[65, 70], gamma=0.1)
    # the log says what the epochs stand for
    assert message == result['description']
    for text in ('540000', '480000, 520000', '118287 images', '74 epochs', '[65, 70]'):
        assert text in message


def test_small_dataset_and_batch_8():
    """1000 images, 2x at batch 8: 360k iterations = 2880 epochs of 125 iterations."""
    result, message = logged(lambda: epoch_schedule('2x', dataset_size=1000, batch_size=8))
    assert result['train_cfg']['max_epochs'] == 180_000 * 16 // 1000 == 2880
    assert result['param_scheduler'][1]['milestones'] == [120_000 * 16 // 1000,
                                                          160_000 * 16 // 1000]
    # warm-up is in iterations, scaled with the batch: 500 at 16 -> 1000 at 8
    assert result['param_scheduler'][0]['end'] == 1000
    assert '125 iterations per epoch' in message


def test_epochs_do_not_depend_on_the_batch():
    epochs = {b: epoch_schedule('3x', dataset_size=5000, batch_size=b)['train_cfg']['max_epochs']
              for b in (4, 16, 48, 64)}
    assert set(epochs.values()) == {math.ceil(270_000 * 16 / 5000)}


def test_custom_schedule_without_warmup():
    result = epoch_schedule(dict(total_iters=1000, drops_before_end=(200, 100),
                                 warmup_iters=0), dataset_size=160, batch_size=16,
                            val_interval=5)
    assert [s['type'] for s in result['param_scheduler']] == ['MultiStepLR']
    assert result['train_cfg'] == dict(type='EpochBasedTrainLoop', max_epochs=100,
                                       val_interval=5)
    assert result['param_scheduler'][0]['milestones'] == [80, 90]


def test_lr_follows_the_rule_when_mmengine_runs_it():
    """Iteration warm-up, then x0.1 at the epoch milestones, in MMEngine's schedulers."""
    result = epoch_schedule(dict(total_iters=100, drops_before_end=(40, 20), warmup_iters=6),
                            dataset_size=40, batch_size=4, base_batch_size=4)
    assert result['train_cfg']['max_epochs'] == 10  # of 10 iterations
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    warmup_cfg, steps_cfg = (dict(s) for s in result['param_scheduler'])
    warmup_cfg.pop('type'), steps_cfg.pop('type')
    warmup, steps = LinearLR(optimizer, **warmup_cfg), MultiStepLR(optimizer, **steps_cfg)
    lrs = []
    for epoch in range(10):
        for _ in range(10):
            lrs.append(optimizer.param_groups[0]['lr'])
            warmup.step()
        steps.step()
    assert lrs[0] == pytest.approx(0.02 / 3)
    assert lrs[6:60] == pytest.approx([0.02] * 54)
    assert lrs[60:80] == pytest.approx([0.002] * 20)
    assert lrs[80:] == pytest.approx([0.0002] * 20)


def write_tiny_coco(path, num_images):
    images = [dict(id=i, file_name=f'{i}.png', width=64, height=64) for i in range(num_images)]
    annotations = [dict(id=i, image_id=i, category_id=1, bbox=[4, 4, 20, 20], area=400,
                        iscrowd=0, segmentation=[[4, 4, 24, 4, 24, 24, 4, 24]])
                   for i in range(num_images)]
    path.write_text(json.dumps(dict(images=images, annotations=annotations,
                                    categories=[dict(id=1, name='thing')])))


@pytest.fixture
def user_config(tmp_path):
    """MMDetection's Mask R-CNN on a 40-image dataset of the user's."""
    write_tiny_coco(tmp_path / 'train.json', 40)
    cfg = load_config('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    cfg.train_dataloader.dataset.ann_file = 'train.json'
    cfg.train_dataloader.dataset.metainfo = dict(classes=('thing',))
    return cfg


def test_dataset_size_comes_from_the_config(user_config):
    assert train_dataset_size(user_config) == 40


def test_apply_to_a_users_config(user_config):
    out, message = logged(lambda: apply_epoch_schedule(user_config, '1x', num_gpus=4))
    # 4 GPUs x 2 images; 90k x 16 images = 36000 epochs of 40 images
    assert out.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=36_000,
                                 val_interval=1)
    assert out.param_scheduler[1].milestones == [30_000 * 16 // 40, 70_000 * 16 // 40]
    assert out.param_scheduler[0].end == 1000  # 500 iterations at 16 = 1000 at 8
    assert out.auto_scale_lr == dict(enable=True, base_batch_size=16)
    assert out.default_hooks.checkpoint.by_epoch is True
    assert '40 images per epoch' in message
    assert user_config.train_cfg.max_epochs == 12, 'the input config must not change'


def test_apply_refuses_zero_gpus(user_config):
    with pytest.raises(ValueError):
        apply_epoch_schedule(user_config, num_gpus=0, dataset_size=10)
