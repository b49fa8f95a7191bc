import json

import pytest

from mmscratch.utils.run_files import read_curve
from mmscratch.engine.hooks import ConvergenceCurveHook
from mmscratch.engine.hooks.convergence_curve_hook import spread_eval_points

from mmscratch.testing.runners import make_mock_runner


def _metrics(ap):
    return {'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': ap + 0.1, 'coco/segm_mAP': ap - 0.05,
            'coco/segm_mAP_l': -1.0}


def _attach_val(runner, hook, aps):
    """val_loop.run() calls back into the hook, as MMEngine's ValLoop does."""
    calls = []

    def run():
        calls.append(runner.iter)
        hook.after_val_epoch(runner, _metrics(aps.get(len(calls), 0.5)))
    runner.val_loop.run.side_effect = run
    return calls


def test_spread_points_are_denser_near_drops():
    points = spread_eval_points(540_000, (480_000, 520_000), 10)
    assert points[-1] == 540_000
    assert 480_000 in points and 520_000 in points
    assert any(480_000 < p < 520_000 for p in points)  # just after the first drop
    gaps_late = [b - a for a, b in zip(points, points[1:]) if a >= 480_000]
    gaps_early = [b - a for a, b in zip(points, points[1:]) if b <= 480_000]
    assert sum(gaps_late) / len(gaps_late) < sum(gaps_early) / len(gaps_early) / 3
    assert len(points) == 10
    assert spread_eval_points(400, (320, 372), 1) == [400]
    assert spread_eval_points(400, (320, 372), 3) == [320, 340, 400]
    assert spread_eval_points(100, (), 4) == [25, 50, 75, 100]
    with pytest.raises(ValueError):
        spread_eval_points(0, (), 4)


def test_evaluates_at_points_and_records(tmp_path):
    runner = make_mock_runner(tmp_path, max_iters=10, batch_size=2, steps=(6, 8),
                              val_interval=10)
    hook = ConvergenceCurveHook(eval_iters=[3, 6, 10], plot=True)
    calls = _attach_val(runner, hook, {1: 0.1, 2: 0.2})
    hook.before_train(runner)
    for i in range(10):
        runner.iter = i
        hook.after_train_iter(runner, i)
    # the loop itself validates at 10 (val_interval): the hook must not double it
    assert len(calls) == 2
    runner.iter = 10
    hook.after_val_epoch(runner, _metrics(0.3))  # the loop's own validation
    records = read_curve(str(tmp_path))
    assert [r['iter'] for r in records] == [3, 6, 10]
    assert [r['images_seen'] for r in records] == [6, 12, 20]
    assert records[0]['bbox_mAP'] == pytest.approx(0.1)
    assert records[0]['bbox_mAP_50'] == pytest.approx(0.2)
    assert records[-1]['lr_steps'] == [6, 8]
    assert (tmp_path / 'curve.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    meta = json.loads((tmp_path / 'curve_meta.json').read_text())
    assert meta['config_name'] == 'my_config' and meta['eval_points'] == [3, 6, 10]


def test_resume_drops_later_points_and_fills_gap(tmp_path):
    runner = make_mock_runner(tmp_path, max_iters=10, val_interval=100)
    hook = ConvergenceCurveHook(eval_iters=[2, 4, 6, 8, 10], plot=False)
    calls = _attach_val(runner, hook, {})
    hook.before_train(runner)
    for i in range(7):  # evaluated at 2, 4, 6; "crash" after iteration 7
        runner.iter = i
        hook.after_train_iter(runner, i)
    assert [r['iter'] for r in read_curve(str(tmp_path))] == [2, 4, 6]
    # resume from a checkpoint at 4: the record at 6 is stale, 4 is kept
    runner2 = make_mock_runner(tmp_path, max_iters=10, val_interval=100, it=4)
    hook2 = ConvergenceCurveHook(eval_iters=[2, 4, 6, 8, 10], plot=False)
    calls2 = _attach_val(runner2, hook2, {})
    hook2.before_train(runner2)
    assert calls2 == []  # 4 is recorded already: no re-evaluation
    for i in range(4, 10):
        runner2.iter = i
        hook2.after_train_iter(runner2, i)
    runner2.iter = 10
    hook2.after_val_epoch(runner2, _metrics(0.4))  # the loop validates at max_iters
    iters = [r['iter'] for r in read_curve(str(tmp_path))]
    assert iters == [2, 4, 6, 8, 10]  # no duplicates, no gaps
    assert len(calls) == 3


def test_resume_at_an_unrecorded_point_evaluates_first(tmp_path):
    runner = make_mock_runner(tmp_path, max_iters=10, val_interval=100)
    hook = ConvergenceCurveHook(eval_iters=[2, 4], plot=False)
    _attach_val(runner, hook, {})
    hook.before_train(runner)
    runner.iter = 1
    hook.after_train_iter(runner, 1)  # records 2
    # crashed after the checkpoint at 4 was written but before its evaluation
    runner2 = make_mock_runner(tmp_path, max_iters=10, val_interval=100, it=4)
    hook2 = ConvergenceCurveHook(eval_iters=[2, 4], plot=False)
    calls = _attach_val(runner2, hook2, {})
    hook2.before_train(runner2)
    assert len(calls) == 1
    assert [r['iter'] for r in read_curve(str(tmp_path))] == [2, 4]


def test_images_seen_prefers_data_seen_counter(tmp_path):
    runner = make_mock_runner(tmp_path, max_iters=4, val_interval=100)
    runner.message_hub.update_info('data_seen/images', 123)
    hook = ConvergenceCurveHook(eval_iters=[2], plot=False)
    _attach_val(runner, hook, {})
    hook.before_train(runner)
    runner.iter = 1
    hook.after_train_iter(runner, 1)
    assert read_curve(str(tmp_path))[0]['images_seen'] == 123


def test_standalone_validation_is_not_recorded(tmp_path):
    runner = make_mock_runner(tmp_path)
    hook = ConvergenceCurveHook(num_points=4, plot=False)
    hook.after_val_epoch(runner, _metrics(0.5))
    assert not (tmp_path / 'curve.jsonl').exists()


def test_argument_errors():
    with pytest.raises(ValueError):
        ConvergenceCurveHook(eval_iters=[1], num_points=3)
    with pytest.raises(ValueError):
        ConvergenceCurveHook(eval_iters=[0])
