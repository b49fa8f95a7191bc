"""tools/benchmark.py on CPU, tiny: scaled-down models, 128x96 synthetic
images or a few generated 64 px shapes, 1 warm-up + 2 measured iterations.

One subprocess checks the command line end to end (stdout is one JSON
document, --vs, MMDetection's stock config as the baseline, --out); the
other paths run in this process through ``cli.run`` to share the imports.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmscratch.apis import benchmark as cli
from mmscratch.benchmark.common import time_stats
from mmscratch.benchmark.stages import ALL_STAGES, match_stage_modules
from mmscratch.benchmark.synthetic import generate_coco_images, make_train_batch

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / 'configs/demo/mask_rcnn_gn_shapes.py')
FAST_DATA = str(REPO / 'configs/_base_/datasets/coco_instance_fast.py')
STOCK = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
STOCK_DATA = 'mmdet::_base_/datasets/coco_instance.py'
TINY = ['--image-size', '128', '96', '--warmup', '1', '--iters', '2']

COMMON_FIELDS = ('config', 'device', 'mode', 'input', 'image_size', 'batch_size',
                 'warmup_iters', 'iters', 's_per_iter', 'images_per_s', 'data_time_s',
                 'compute_time_s', 'peak_mem_mb', 'stages_s', 'versions',
                 'cudnn_benchmark', 'amp')


def check_common(res, mode, iters=2, warmup=1):
    missing = [f for f in COMMON_FIELDS if f not in res]
    assert not missing, missing
    assert res['mode'] == mode and res['device'] == 'cpu'
    assert res['iters'] == iters and res['warmup_iters'] == warmup
    s = res['s_per_iter']
    assert set(s) == {'mean', 'median', 'p90'}
    assert 0 < s['median'] <= s['p90'] and s['mean'] > 0
    # batch / mean seconds per iteration == images per second
    assert math.isclose(res['images_per_s'], res['batch_size'] / s['mean'], rel_tol=1e-6)
    assert res['data_time_s'] >= 0 and res['compute_time_s'] >= 0
    assert math.isclose(res['data_time_s'] + res['compute_time_s'], s['mean'],
                        rel_tol=1e-6)
    assert res['peak_mem_mb'] >= 0
    assert set(res['versions']) >= {'torch', 'mmcv', 'mmdet', 'mmengine'}
    assert all(v >= 0 for v in res['stages_s'].values())


def check_train(res, iters=2):
    check_common(res, 'train', iters)
    assert tuple(res['stages_s']) == ALL_STAGES
    assert res['stages_s']['backbone_fpn'] > 0 and res['stages_s']['backward'] > 0
    assert res['stages_s']['roi_mask'] > 0  # the mask head's forward was hooked
    # stages are disjoint parts of one iteration (timer overhead aside)
    assert sum(res['stages_s'].values()) <= res['s_per_iter']['mean'] * 1.02


@pytest.mark.slow
def test_cli_vs_stock_mmdet_baseline(tmp_path):
    """Demo config vs MMDetection's stock Mask R-CNN, both scaled down, in
    one subprocess: stdout is exactly the JSON, also written to --out."""
    out = tmp_path / 'vs.json'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/benchmark.py'), DEMO, '--vs', STOCK,
         '--scale-down', '--batch-size', '1', '--out', str(out)] + TINY,
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == result
    a, b = result['a'], result['b']
    check_train(a)
    check_train(b)
    assert a['config'] == DEMO and b['config'] == STOCK
    assert a['input'] == b['input'] == 'synthetic' and a['image_size'] == [128, 96]
    assert b['scale_down'] == 8 and b['mask_type'] == 'bitmap'
    assert result['ratio'] == pytest.approx(a['images_per_s'] / b['images_per_s'])
    assert 'ratio (a/b images/s)' in proc.stderr


@pytest.mark.slow
def test_real_data_with_polygon_masks_trains(tmp_path):
    """The demo config on its real (generated) dataset with
    LoadAnnotations(poly2mask=False): PolygonMasks reach the mask head and
    the step trains (finite loss, checked by the bench)."""
    from mmscratch.datasets.shapes import generate_shapes_dataset
    root = tmp_path / 'shapes'
    generate_shapes_dataset(str(root), num_train=4, num_val=1, image_size=64, seed=0)
    args = cli.build_parser().parse_args(
        [DEMO, '--input', 'real', '--num-workers', '0', '--batch-size', '2',
         '--warmup', '1', '--iters', '2', '--cfg-options',
         f'train_dataloader.dataset.data_root={root}/',
         'train_dataloader.dataset.pipeline.1.poly2mask=False'])
    res = cli.run(args)
    check_train(res)
    assert res['input'] == 'real' and res['mask_type'] == 'polygon'
    assert res['image_size'] == [128, 128]  # the demo pipeline's Resize, padded
    assert res['data_time_s'] > 0


def test_data_only_vs_stock_pipeline(tmp_path):
    args = cli.build_parser().parse_args(
        ['--data-only', FAST_DATA, '--vs', STOCK_DATA, '--image-size', '160', '96',
         '--num-images', '3', '--warmup', '1', '--iters', '4',
         '--data-dir', str(tmp_path / 'gen')])
    result = cli.run(args)
    for res in (result['a'], result['b']):
        check_common(res, 'data', iters=4)
        assert res['image_size'] == [160, 96] and res['batch_size'] == 1
        assert list(res['stages_s']) == ['get_data_info'] + res['pipeline']
        assert res['stages_s']['LoadImageFromFile'] > 0
        assert sum(res['stages_s'].values()) <= res['s_per_iter']['mean'] * 1.001
    assert result['a']['pipeline'] == result['b']['pipeline'] == [
        'LoadImageFromFile', 'LoadAnnotations', 'Resize', 'RandomFlip', 'PackDetInputs']
    assert result['ratio'] == pytest.approx(
        result['a']['images_per_s'] / result['b']['images_per_s'])


def test_generated_coco_is_cached_and_consistent(tmp_path):
    ann = generate_coco_images(str(tmp_path), num_images=2, image_size=(96, 64),
                               num_instances=3)
    coco = json.loads(Path(ann).read_text())
    assert len(coco['images']) == 2 and len(coco['annotations']) == 6
    for a in coco['annotations']:
        xs, ys = a['segmentation'][0][0::2], a['segmentation'][0][1::2]
        assert a['bbox'] == pytest.approx([min(xs), min(ys), max(xs) - min(xs),
                                           max(ys) - min(ys)], abs=0.01)
        assert 0 <= min(xs) and max(xs) <= 95 and max(ys) <= 63
    mtime = os.path.getmtime(ann)
    generate_coco_images(str(tmp_path), num_images=2, image_size=(96, 64), num_instances=3)
    assert os.path.getmtime(ann) == mtime  # same arguments: cache hit
    generate_coco_images(str(tmp_path), num_images=3, image_size=(96, 64), num_instances=3)
    assert len(json.loads(Path(ann).read_text())['images']) == 3


def test_polygon_and_bitmap_masks_give_the_same_mask_targets():
    """What makes poly2mask=False safe: Mask R-CNN's 28x28 targets from
    PolygonMasks match those from the rasterised BitmapMasks (up to the
    boundary pixels, which rasterisation rounds)."""
    import torch
    kw = dict(batch_size=1, image_size=(640, 384), num_instances=4, seed=3)
    bitmap = make_train_batch(mask_type='bitmap', **kw)['data_samples'][0].gt_instances
    polygon = make_train_batch(mask_type='polygon', **kw)['data_samples'][0].gt_instances
    boxes = bitmap.bboxes.tensor
    assert torch.equal(boxes, polygon.bboxes.tensor)
    # as mmdet's mask_target calls it: numpy proposals (here the gt boxes)
    boxes, inds = boxes.numpy(), np.arange(len(boxes))
    t_bitmap = bitmap.masks.crop_and_resize(boxes, (28, 28), inds).to_ndarray()
    t_polygon = polygon.masks.crop_and_resize(boxes, (28, 28), inds).to_ndarray()
    for m_bitmap, m_polygon in zip(t_bitmap > 0.5, t_polygon > 0.5):
        assert m_bitmap.sum() > 50
        iou = (m_bitmap & m_polygon).sum() / (m_bitmap | m_polygon).sum()
        assert iou > 0.9, iou


def test_stage_modules_cover_cascade_heads():
    from mmscratch.testing import build_model_from_config
    model = build_model_from_config(
        'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py', scale_down=True)
    stages = match_stage_modules(model)
    assert stages['backbone_fpn'] == ['backbone', 'neck']
    assert stages['rpn'] == ['rpn_head']
    assert 'roi_head.bbox_head.2' in stages['roi_box']
    assert 'roi_head.mask_head.0' in stages['roi_mask']
    names = sum(stages.values(), [])
    assert len(names) == len(set(names))
    assert not any(n.startswith(m + '.') for n in names for m in names)


def test_time_stats():
    s = time_stats([4.0, 1.0, 3.0, 2.0, 10.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    assert s == {'mean': 5.5, 'median': 5.5, 'p90': 9.0}


def test_rejects_bad_iteration_counts():
    with pytest.raises(ValueError):
        cli.run(cli.build_parser().parse_args([DEMO, '--iters', '0']))


@pytest.mark.slow
def test_one_lever_per_arm_bf16_and_channels_last():
    """A: the config as it trains with BF16OptimWrapper (from its optim_wrapper)
    and channels_last; B: fp32 (--vs-cfg-options) and NCHW (--vs-bench-options)."""
    args = cli.build_parser().parse_args(
        [DEMO, '--vs', DEMO, '--batch-size', '2', '--channels-last', *TINY,
         '--cfg-options', 'optim_wrapper.type=BF16OptimWrapper',
         '--vs-cfg-options', 'optim_wrapper.type=OptimWrapper',
         '--vs-bench-options', 'channels_last=False'])
    res = cli.run(args)
    a, b = res['a'], res['b']
    check_train(a)
    check_train(b)
    assert a['amp'] == 'bfloat16' and a['optim_wrapper'] == 'BF16OptimWrapper'
    assert b['amp'] is False and b['optim_wrapper'] == 'OptimWrapper'
    assert a['channels_last'] is True and b['channels_last'] is False


def test_bench_options_are_checked():
    assert cli.parse_bench_options(['batch_size=8', 'channels_last=False',
                                    'amp_dtype=float16']) == dict(
        batch_size=8, channels_last=False, amp_dtype='float16')
    with pytest.raises(ValueError, match='not KEY=VALUE'):
        cli.parse_bench_options(['channel_last=True'])
    with pytest.raises(ValueError, match='needs --vs'):
        cli.run(cli.build_parser().parse_args([DEMO, '--vs-bench-options', 'batch_size=2']))
    with pytest.raises(ValueError, match='float16 needs --device cuda'):
        cli.run(cli.build_parser().parse_args([DEMO, '--amp', '--amp-dtype', 'float16',
                                               *TINY]))


@pytest.mark.slow
def test_fast_cpu_ops_in_one_arm():
    """A: mmscratch's RoIAlign and RPN NMS (--fast-cpu-ops); B: MMCV's kernels."""
    res = cli.run(cli.build_parser().parse_args(
        [DEMO, '--vs', DEMO, '--batch-size', '2', '--fast-cpu-ops', *TINY,
         '--vs-bench-options', 'fast_cpu_ops=False']))
    a, b = res['a'], res['b']
    check_train(a)
    check_train(b)
    assert a['fast_cpu_ops'] is True and b['fast_cpu_ops'] is False
