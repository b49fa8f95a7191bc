"""Evaluating a ``--scratchify`` run with the command everyone uses gives its AP.

A user trains MMDetection's own Mask R-CNN config with ``tools/train.py
--scratchify GN:6x``, then runs ``tools/test.py my_cfg.py iter_N.pth``:
the checkpoint recorded the recipe, so the model is built with it. Weights
that do not fit the model (the config of another model, a checkpoint that
recorded nothing) are an error naming the keys, never an AP printed with
exit code 0.
"""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmscratch.apis import train as train_api
from mmscratch.checkpoint import load_checkpoint_file, to_plain_data
from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

# "Your config": MMDetection's Mask R-CNN R50-FPN 1x (BN, 2fc box head, frozen
# stem, ImageNet weights), shrunk to ResNet-18 at half width for a CPU, on the
# generated shapes data at 128 px.
USER_CONFIG = '''
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmscratch'], allow_failed_imports=False)
data_root = '{data_root}'
model = dict(
    backbone=dict(depth=18, base_channels=32),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64, anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, num_classes=5),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=64, num_classes=5)),
    train_cfg=dict(rpn=dict(sampler=dict(num=64)), rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=20)))
__pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='PackDetInputs')]
__dataset = dict(type='ShapesDataset', data_root=data_root, pipeline=__pipeline)
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(__dataset, ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/')))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(__dataset, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
'''
SCHEDULE = ['train_cfg.schedule.multiple=None', 'train_cfg.schedule.total_iters=2',
            'train_cfg.schedule.drops_before_end=[1]', 'train_cfg.schedule.warmup_iters=0',
            'train_cfg.val_interval=100', 'train_cfg.base_batch_size=2',
            'auto_scale_lr.base_batch_size=2', 'default_hooks.checkpoint.interval=2',
            'custom_hooks.3.num_points=1', 'optim_wrapper.optimizer.lr=0.0025']


@pytest.fixture(scope='module')
def scratchified_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('test_recipe')
    data_root = make_tiny_dataset(root / 'shapes', num_train=4, num_val=2)
    config = root / 'my_mask_rcnn.py'
    config.write_text(USER_CONFIG.format(data_root=data_root))
    work_dir = root / 'work'
    train_api.main([str(config), '--scratchify', 'GN:6x', '--work-dir', str(work_dir),
                    '--cfg-options', *SCHEDULE])
    return config, work_dir / 'iter_2.pth', data_root


def _test(*argv):
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'test.py'), *map(str, argv)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    return proc, proc.stdout + proc.stderr


def test_the_original_config_evaluates_with_the_recorded_recipe(scratchified_run, tmp_path):
    config, checkpoint, _ = scratchified_run
    meta = load_checkpoint_file(str(checkpoint))['meta']['mmscratch_recipe']
    assert meta['scratchified']['spec'] == 'GN:6x'
    proc, log = _test(config, checkpoint, '--work-dir', tmp_path)
    assert proc.returncode == 0, log[-4000:]
    assert 'was trained with --scratchify GN:6x' in log
    assert 'coco/bbox_mAP' in log
    assert 'missing keys' not in log and 'unexpected key' not in log


def test_weights_of_another_model_are_an_error_naming_the_keys(scratchified_run, tmp_path):
    config, checkpoint, data_root = scratchified_run
    proc, log = _test(DEMO_CONFIG, checkpoint, '--work-dir', tmp_path, '--cfg-options',
                      *tiny_demo_options(data_root))
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 1 and len(errors) == 1, log[-4000:]
    assert 'does not fit the model' in errors[0] and 'of another shape' in errors[0]
    assert 'Traceback' not in log and 'coco/bbox_mAP' not in log


def test_without_a_record_the_error_points_at_the_recipe(scratchified_run, tmp_path):
    config, checkpoint, _ = scratchified_run
    # a checkpoint from before the recipe was recorded: same weights, no record
    ckpt = load_checkpoint_file(str(checkpoint))
    del ckpt['meta']['mmscratch_recipe']
    bare = tmp_path / 'bare.pth'
    torch.save(to_plain_data(ckpt), bare)
    proc, log = _test(config, bare, '--work-dir', tmp_path)
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 1 and len(errors) == 1, log[-4000:]
    assert 'missing from the checkpoint' in errors[0] and 'not in the model' in errors[0]
    assert 'backbone.gn1.weight' in errors[0]  # GN in the checkpoint, BN in the model
    assert 'GroupNorm layers where the model has BatchNorm' in errors[0]
    # the recipe given by hand fixes it
    proc, log = _test(config, bare, '--work-dir', tmp_path, '--scratchify', 'GN:6x')
    assert proc.returncode == 0, log[-4000:]
    # and a partial load that is meant is only a warning
    proc, log = _test(config, bare, '--work-dir', tmp_path, '--allow-partial-load')
    assert proc.returncode == 0 and 'partial load (allowed)' in log, log[-4000:]
