"""Figure 3 (images / instances / pixels seen): pixel model, COCO numbers, user data, CLI."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from mmscratch.analysis.data_budget import (COCO_TRAIN2017_IMAGES, COCO_TRAIN2017_INSTANCES,
                                            IMAGENET_IMAGES, config_budget, input_pixels,
                                            schedule_extent, stats_from_annotations)
from mmscratch.datasets.shapes import generate_shapes_dataset

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import data_budget as budget_tool  # noqa: E402

RESIZE = [dict(type='LoadImageFromFile'),
          dict(type='Resize', scale=(1333, 800), keep_ratio=True),
          dict(type='RandomFlip', prob=0.5)]


def test_resize_pixels_match_mmcv():
    assert input_pixels(640, 480, RESIZE) == 1067 * 800
    assert input_pixels(480, 640, RESIZE) == 800 * 1067
    assert input_pixels(640, 480, [dict(type='Resize', scale=(1333, 800))]) == 1333 * 800
    assert input_pixels(1000, 200, RESIZE) == 1333 * 267  # long side caps the scale


def _monte_carlo_pixels(transforms, width=640, height=480, draws=300):
    """Mean input pixels measured by running the real transforms."""
    from mmdet.registry import TRANSFORMS
    import mmdet.datasets.transforms  # noqa: F401  (registers mmdet's transforms)
    built = [TRANSFORMS.build(t) for t in transforms]
    np.random.seed(0)
    total = 0
    for _ in range(draws):
        results = dict(img=np.zeros((height, width, 3), np.uint8), img_shape=(height, width))
        for t in built:
            results = t(results)
        total += results['img'].shape[0] * results['img'].shape[1]
    return total / draws


@pytest.mark.parametrize('transforms', [
    # the paper's scale augmentation (enhanced baselines: [640, 800]; 35k regime: [512, 800])
    [dict(type='RandomResize', scale=[(1333, 512), (1333, 800)], keep_ratio=True)],
    # large-scale jitter: resize x[0.1, 2.0] of 1024, crop to at most 1024
    [dict(type='RandomResize', scale=(1024, 1024), ratio_range=(0.1, 2.0), keep_ratio=True),
     dict(type='RandomCrop', crop_type='absolute_range', crop_size=(1024, 1024),
          allow_negative_crop=True)],
    [dict(type='RandomChoiceResize', scales=[(1333, 640), (1333, 800)], keep_ratio=True)],
])
def test_random_resize_expectation_matches_the_real_transform(transforms):
    expected = input_pixels(640, 480, transforms)
    measured = _monte_carlo_pixels(transforms)
    assert expected == pytest.approx(measured, rel=0.04)


def test_coco_6x_budget_with_2x_fine_tuning():
    cfg = Config.fromfile(str(REPO / 'configs' / 'scratch' / 'mask_rcnn_r50_gn_6x.py'))
    budget = config_budget(cfg, finetune_schedule='2x')
    assert budget['schedules'] == dict(scratch='6x', finetune='2x', batch=16)
    assert budget['scratch']['images'] == 540_000 * 16
    assert budget['finetuning']['images'] == 180_000 * 16
    assert budget['pretraining']['images'] == IMAGENET_IMAGES * 100
    assert budget['pretraining']['pixels'] == IMAGENET_IMAGES * 100 * 224 * 224
    per_image = COCO_TRAIN2017_INSTANCES / COCO_TRAIN2017_IMAGES
    assert budget['scratch']['instances'] == pytest.approx(8_640_000 * per_image)
    assert budget['scratch']['pixels'] == 8_640_000 * 1067 * 800
    assert budget['scratch']['epochs'] == pytest.approx(73.04, abs=0.01)  # MMDet's "73 epochs"
    # the paper's point: far fewer images, but pixels of the same order
    assert budget['ratio']['images'] < 0.1 < 0.5 < budget['ratio']['pixels'] < 1.0


def test_small_data_config_uses_its_subset_size_and_scale_augmentation():
    cfg = Config.fromfile(str(REPO / 'configs' / 'small_data' / 'mask_rcnn_r50_gn_10k_scratch.py'))
    budget = config_budget(cfg)
    target = budget['datasets']['target']
    assert target['images'] == 10_000 and 'subset' in target['name']
    assert budget['schedules']['scratch'] == '220k it'
    assert budget['scratch']['images'] == 220_000 * 16
    assert budget['scratch']['epochs'] == pytest.approx(352)
    # shorter side from [512, 800]: fewer pixels than the fixed 800
    assert 512 * 683 < target['pixels_per_image'] < 1067 * 800


def test_user_dataset_is_counted_from_its_annotations(tmp_path):
    generate_shapes_dataset(str(tmp_path), num_train=6, num_val=1, seed=0)
    ann = tmp_path / 'annotations' / 'instances_train.json'
    coco = json.loads(ann.read_text())
    stats = stats_from_annotations(str(ann), [dict(type='Resize', scale=(256, 256),
                                                   keep_ratio=True)])
    assert stats.images == 6
    assert stats.instances_per_image == pytest.approx(len(coco['annotations']) / 6)
    assert stats.pixels_per_image == 256 * 256  # 128 px squares doubled
    # an image without annotations is not trained on with filter_empty_gt
    coco['images'].append(dict(id=999, file_name='x.png', width=1000, height=10))
    ann.write_text(json.dumps(coco))
    assert stats_from_annotations(str(ann), [], filter_empty_gt=True).images == 6
    assert stats_from_annotations(str(ann), [], filter_empty_gt=False).images == 7


@pytest.mark.parametrize('text, expected', [
    ('6x', dict(iters=540_000, label='6x')), ('0.5x', dict(iters=45_000, label='0.5x')),
    ('220k', dict(iters=220_000, label='220k it')), ('60000', dict(iters=60_000, label='60k it')),
    ('500', dict(iters=500, label='500 it')),
    ('12e', dict(epochs=12.0, label='12e')),
])
def test_schedule_extent(text, expected):
    assert schedule_extent(text) == expected


def test_schedule_extent_rejects_garbage():
    with pytest.raises(ValueError, match='schedule'):
        schedule_extent('six')


def test_cli_on_the_demo_config(tmp_path, capsys):
    generate_shapes_dataset(str(tmp_path / 'shapes'), num_train=8, num_val=1, seed=0)
    out = tmp_path / 'budget.json'
    ann = tmp_path / 'shapes' / 'annotations' / 'instances_train.json'
    budget_tool.main([str(REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py'),
                      '--ann-file', str(ann),
                      '--schedule', '2000', '--finetune-schedule', '500', '--images-per-epoch',
                      '--out-json', str(out)])
    text = capsys.readouterr().out
    assert '| images | 128M | 2k | 128M | 8k | 0.00 |' in text
    assert '| epochs | 100 | 250 | – | 1e+03 | – |' in text
    data = json.loads(out.read_text())
    assert data['scratch']['images'] == 2000 * 4  # the demo's base batch of 4
    assert data['datasets']['target']['pixels_per_image'] == 128 * 128
    with pytest.raises(ValueError, match='annotation file not found: .*missing.json'):
        budget_tool.main([str(REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py'),
                          '--ann-file', str(tmp_path / 'missing.json')])
