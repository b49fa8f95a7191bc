from unittest import mock

import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmscratch.engine.hooks import DataSeenHook
from mmscratch.engine.hooks.data_seen_hook import count_batch

from mmscratch.testing.runners import make_mock_runner


def _batch(shapes_and_instances):
    samples, inputs = [], []
    for (h, w), n in shapes_and_instances:
        sample = DetDataSample(metainfo=dict(img_shape=(h, w)))
        gt = InstanceData()
        gt.bboxes = torch.zeros(n, 4)
        gt.labels = torch.zeros(n, dtype=torch.long)
        sample.gt_instances = gt
        samples.append(sample)
        inputs.append(torch.zeros(3, h + 4, w + 4))  # padded inputs are not counted
    return dict(inputs=inputs, data_samples=samples)


def test_count_batch_uses_unpadded_shapes():
    counts = count_batch(_batch([((10, 20), 3), ((8, 8), 0)]))
    assert counts == dict(images=2, instances=3, pixels=10 * 20 + 8 * 8)
    assert count_batch(None) == dict(images=0, instances=0, pixels=0)


def test_counts_sync_and_publish(tmp_path):
    runner = make_mock_runner(tmp_path)
    hook = DataSeenHook(sync_interval=2)
    batch = _batch([((10, 10), 2), ((10, 10), 1)])
    for i in range(3):
        runner.iter = i
        hook.after_train_iter(runner, i, data_batch=batch)
    # synced after iteration 2 only: the third batch is still pending
    assert runner.message_hub.get_info('data_seen/images') == 4
    hook.after_train(runner)
    assert runner.message_hub.get_info('data_seen/images') == 6
    assert runner.message_hub.get_info('data_seen/instances') == 9
    assert runner.message_hub.get_info('data_seen/pixels') == 600


def test_distributed_counts_are_summed_over_ranks(tmp_path):
    runner = make_mock_runner(tmp_path)
    hook = DataSeenHook(sync_interval=1)

    def fake_all_reduce(tensor, op='sum'):
        tensor.mul_(4)  # 4 ranks that saw the same number of images
    with mock.patch('mmscratch.engine.hooks.data_seen_hook.get_world_size', return_value=4), \
            mock.patch('mmscratch.engine.hooks.data_seen_hook.all_reduce',
                       side_effect=fake_all_reduce) as reduce:
        hook.after_train_iter(runner, 0, data_batch=_batch([((4, 4), 1)] * 2))
    assert reduce.call_count == 1
    assert hook.totals == dict(images=8, instances=8, pixels=128)


def test_totals_survive_checkpoint_round_trip(tmp_path):
    runner = make_mock_runner(tmp_path)
    hook = DataSeenHook(sync_interval=100)
    hook.after_train_iter(runner, 0, data_batch=_batch([((5, 5), 2)]))
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)  # syncs pending counts first
    assert checkpoint['data_seen'] == dict(images=1, instances=2, pixels=25)
    fine_tuned = DataSeenHook()
    runner_ft = make_mock_runner(tmp_path)
    runner_ft._resume = False  # load_from: a new run, nothing seen yet
    fine_tuned.after_load_checkpoint(runner_ft, checkpoint)
    assert fine_tuned.totals == dict(images=0, instances=0, pixels=0)
    resumed = DataSeenHook()
    runner2 = make_mock_runner(tmp_path)
    runner2._resume = True
    resumed.after_load_checkpoint(runner2, checkpoint)
    resumed.after_train_iter(runner2, 0, data_batch=_batch([((5, 5), 1)]))
    resumed.after_train(runner2)
    assert resumed.totals == dict(images=2, instances=3, pixels=50)
    assert runner2.message_hub.get_info('data_seen/instances') == 3


def test_checkpoint_save_needs_no_collective_in_distributed_runs(tmp_path):
    # Runner.save_checkpoint runs on rank 0 only: a collective there would hang
    # the other ranks. The totals are synced in after_train_iter instead.
    runner = make_mock_runner(tmp_path)
    hook = DataSeenHook(sync_interval=100)
    with mock.patch('mmscratch.engine.hooks.data_seen_hook.get_world_size', return_value=2), \
            mock.patch('mmscratch.engine.hooks.data_seen_hook.all_reduce') as reduce, \
            mock.patch('mmscratch.engine.hooks.data_seen_hook.iter_checkpoint_due',
                       side_effect=[False, True]):
        hook.after_train_iter(runner, 0, data_batch=_batch([((4, 4), 1)]))
        assert reduce.call_count == 0
        hook.after_train_iter(runner, 1, data_batch=_batch([((4, 4), 1)]))  # checkpoint due
        assert reduce.call_count == 1
        checkpoint = {}
        hook.before_save_checkpoint(runner, checkpoint)
        assert reduce.call_count == 1
    assert checkpoint['data_seen']['images'] == 2
