"""``tools/test.py --tta``: MMDetection's tta_model / tta_pipeline, refusing wrong numbers.

Config level (fast): the model is wrapped, the innermost test dataset gets
the TTA pipeline, a mask model in MMDetection's box-only DetTTAModel and a
pipeline whose flips the merge could not undo are refused. End to end (slow):
a few iterations of the demo, then ``tools/test.py --tta`` merges six views
per image and reports bbox and segm AP; the refusals are one ``error:`` line.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmscratch.apis import train as train_api
from mmscratch.apis.demo import data_root_options
from mmscratch.apis.tta import enable_tta
from mmscratch.utils.config_loading import load_config
from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options

REPO = Path(__file__).resolve().parents[2]
META = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction')


def demo():
    return load_config(DEMO_CONFIG)


def test_wraps_the_model_and_replaces_the_innermost_test_pipeline():
    cfg = demo()
    model, dataset = cfg.model.to_dict(), cfg.test_dataloader.dataset.to_dict()
    cfg.test_dataloader.dataset = dict(type='RepeatDataset', times=1, dataset=dataset)
    assert enable_tta(cfg) == 6
    assert cfg.model.type == 'DetMaskTTAModel' and cfg.model.module.to_dict() == model
    assert cfg.model.tta_cfg.max_per_img == 50
    inner = cfg.test_dataloader.dataset.dataset
    assert inner.pipeline == cfg.tta_pipeline and 'pipeline' not in cfg.test_dataloader.dataset


def test_the_enhanced_baselines_have_detectrons_eighteen_views():
    for path in ('configs/scratch/mask_rcnn_r50_gn_ms_9x.py',
                 'configs/pretrained/cascade_mask_rcnn_r101_syncbn_ms_6x.py',
                 'configs/scratch/faster_rcnn_r101_gn_ms_9x.py'):
        cfg = load_config(path)
        assert enable_tta(cfg) == 18, path
        scales = [t['scale'] for t in cfg.tta_pipeline[1]['transforms'][0]]
        assert scales == [(1333, 800)] + [(2000, s) for s in (400, 500, 600, 700, 900, 1000,
                                                               1100, 1200)]
        assert cfg.model.type == 'DetMaskTTAModel'
        assert cfg.model.tta_cfg == dict(nms=dict(type='nms', iou_threshold=0.5),
                                         max_per_img=100)


def test_mmdetections_box_only_merge_is_refused_for_a_mask_model():
    cfg = demo()
    cfg.tta_model = dict(type='DetTTAModel', tta_cfg=cfg.tta_model.tta_cfg)
    with pytest.raises(ValueError, match="DetMaskTTAModel"):
        enable_tta(cfg)
    faster = load_config('configs/scratch/faster_rcnn_r50_gn_ms_9x.py')
    faster.tta_model = dict(type='DetTTAModel', tta_cfg=faster.tta_model.tta_cfg)
    assert enable_tta(faster) == 18  # boxes only: MMDetection's own merge is right


def test_without_tta_keys_the_test_pipeline_is_flipped():
    cfg = demo()
    cfg._cfg_dict.pop('tta_model'), cfg._cfg_dict.pop('tta_pipeline')
    assert enable_tta(cfg) == 2
    assert cfg.model.type == 'DetMaskTTAModel'
    tta = cfg.test_dataloader.dataset.pipeline[-1]
    assert tta['type'] == 'TestTimeAug'
    assert [t['prob'] for t in tta['transforms'][0]] == [1., 0.]
    assert set(META) <= set(tta['transforms'][1][0]['meta_keys'])


@pytest.mark.parametrize('transforms, message', [
    ([[dict(type='Resize', scale=(128, 128), keep_ratio=True)],
      [dict(type='RandomFlip', prob=1.)],
      [dict(type='PackDetInputs', meta_keys=('img_id', 'ori_shape', 'img_shape',
                                             'scale_factor'))]],
     r"lack \['flip', 'flip_direction'\]"),
    ([[dict(type='Resize', scale=(128, 128), keep_ratio=True)],
      [dict(type='PackDetInputs', meta_keys=META)]], 'needs a RandomFlip'),
    ([[dict(type='RandomFlip', prob=1.)]], 'PackDetInputs'),
    (None, 'no TestTimeAug'),
])
def test_pipelines_the_merge_would_misread_are_refused(transforms, message):
    cfg = demo()
    cfg.tta_pipeline = [dict(type='LoadImageFromFile')] + (
        [dict(type='TestTimeAug', transforms=transforms)] if transforms else [])
    with pytest.raises(ValueError, match=message):
        enable_tta(cfg)


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope='module')
def trained_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp('tta_run')
    data_root = make_tiny_dataset(root / 'shapes', num_train=4, num_val=3)
    options = tiny_demo_options(data_root, total_iters=4, drops=(2, 1), warmup=1,
                                checkpoint_interval=4, curve_points=1)
    train_api.main([DEMO_CONFIG, '--work-dir', str(root / 'work'), '--cfg-options', *options])
    return root / 'work' / 'iter_4.pth', data_root


def _test(*argv):
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'test.py'), *map(str, argv)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    return proc, proc.stdout + proc.stderr


def _metric(log: str, name: str) -> float:
    found = re.findall(rf'coco/{name}: (-?[0-9.]+)', log)
    assert found, name
    return float(found[-1])


@pytest.mark.slow
def test_tools_test_tta_merges_six_views_and_reports_box_and_mask_ap(trained_demo, tmp_path):
    checkpoint, data_root = trained_demo
    # an untrained-looking model still detects something at score threshold 0
    options = ['--cfg-options', *data_root_options(data_root),
               'model.test_cfg.rcnn.score_thr=0.0', 'model.test_cfg.rcnn.max_per_img=20']
    plain, plain_log = _test(DEMO_CONFIG, checkpoint, '--work-dir', tmp_path / 'plain', *options)
    assert plain.returncode == 0, plain_log[-3000:]
    proc, log = _test(DEMO_CONFIG, checkpoint, '--tta', '--work-dir', tmp_path / 'tta', *options)
    assert proc.returncode == 0, log[-3000:]
    assert '--tta: DetMaskTTAModel, 6 views per image' in log
    for name in ('bbox_mAP', 'segm_mAP'):
        assert 0.0 <= _metric(log, name) <= 1.0 and 0.0 <= _metric(plain_log, name) <= 1.0
    assert 'missing keys' not in log and 'does not fit the model' not in log


@pytest.mark.slow
def test_tools_test_tta_refuses_det_tta_model_for_masks_in_one_line(trained_demo, tmp_path):
    checkpoint, data_root = trained_demo
    config = tmp_path / 'box_only_tta.py'
    config.write_text(f"_base_ = [{DEMO_CONFIG!r}]\n"
                      "tta_model = dict(type='DetTTAModel')\n")
    proc, log = _test(config, checkpoint, '--tta', '--work-dir', tmp_path,
                      '--cfg-options', *data_root_options(data_root))
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 1 and len(errors) == 1, log[-3000:]
    assert 'DetMaskTTAModel' in errors[0] and 'Traceback' not in log
    assert 'coco/bbox_mAP' not in log
