"""SyncBNCheckHook: no SyncBN training without a multi-process group."""
import logging
import socket
import uuid
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.model import BaseModel, revert_sync_batchnorm
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmdet.registry import HOOKS
import mmscratch  # noqa: F401  (registers the hook)
from mmscratch.engine.hooks.syncbn_check_hook import (SyncBNCheckHook,
                                                      SyncBNWithoutProcessGroup,
                                                      count_syncbn_layers)


def conv_net(norm: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), norm, nn.ReLU())


def fake_runner(model):
    return SimpleNamespace(model=model, train_dataloader=SimpleNamespace(batch_size=2))


def test_registered_in_mmdet_hooks():
    assert isinstance(HOOKS.build(dict(type='SyncBNCheckHook')), SyncBNCheckHook)


def test_counts_syncbn_and_reverted_layers():
    model = conv_net(nn.SyncBatchNorm(4))
    assert count_syncbn_layers(model) == {'syncbn': 1, 'reverted': 0}
    assert count_syncbn_layers(revert_sync_batchnorm(model)) == {'syncbn': 0, 'reverted': 1}
    assert count_syncbn_layers(conv_net(nn.GroupNorm(2, 4))) == {'syncbn': 0, 'reverted': 0}
    assert count_syncbn_layers(conv_net(nn.BatchNorm2d(4))) == {'syncbn': 0, 'reverted': 0}


@pytest.mark.parametrize('norm', [nn.GroupNorm(2, 4), nn.BatchNorm2d(4)])
def test_models_without_syncbn_pass(norm):
    SyncBNCheckHook().before_train(fake_runner(conv_net(norm)))


def test_syncbn_without_process_group_is_refused():
    with pytest.raises(SyncBNWithoutProcessGroup) as error:
        SyncBNCheckHook().before_train(fake_runner(conv_net(nn.SyncBatchNorm(4))))
    message = str(error.value)
    assert 'synchronize nothing' in message
    assert 'the 2 images of one GPU' in message
    assert 'dist_train.sh' in message and 'GN' in message


def test_syncbn_reverted_by_mmengine_is_refused():
    model = revert_sync_batchnorm(conv_net(nn.SyncBatchNorm(4)))
    with pytest.raises(SyncBNWithoutProcessGroup, match='already reverted its 1 SyncBN'):
        SyncBNCheckHook().before_train(fake_runner(model))


def test_not_strict_warns_with_the_same_explanation():
    with mock.patch('mmscratch.engine.hooks.syncbn_check_hook.print_log') as log:
        SyncBNCheckHook(strict=False).before_train(fake_runner(conv_net(nn.SyncBatchNorm(4))))
    (call,) = log.call_args_list
    assert call.kwargs['level'] == logging.WARNING
    assert 'per-GPU' in call.args[0]


def test_looks_inside_model_wrappers():
    from mmengine.model import MMDistributedDataParallel
    wrapped = mock.MagicMock(spec=MMDistributedDataParallel)
    wrapped.module = conv_net(nn.SyncBatchNorm(4))
    with pytest.raises(SyncBNWithoutProcessGroup):
        SyncBNCheckHook().before_train(fake_runner(wrapped))


def test_two_processes_pass():
    with mock.patch.object(torch_dist, 'is_initialized', return_value=True), \
            mock.patch.object(torch_dist, 'get_world_size', return_value=2):
        SyncBNCheckHook().before_train(fake_runner(conv_net(nn.SyncBatchNorm(4))))


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_a_process_group_of_one_is_refused():
    """``dist_train.sh CONFIG 1``: SyncBN stays, and synchronizes nothing."""
    assert not torch_dist.is_initialized()
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{_free_port()}', rank=0, world_size=1)
    try:
        with pytest.raises(SyncBNWithoutProcessGroup, match='process group of 1'):
            SyncBNCheckHook().before_train(fake_runner(conv_net(nn.SyncBatchNorm(4))))
    finally:
        torch_dist.destroy_process_group()


class SyncBNModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 4), nn.SyncBatchNorm(4), nn.Linear(4, 1))

    def forward(self, inputs, labels, mode='tensor'):
        out = self.net(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - labels) ** 2).mean())
        return out


class TinyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([i / 8, 1.0]), labels=torch.tensor(float(i % 2)))


def test_stops_a_real_single_process_run_before_the_first_iteration(tmp_path):
    """MMEngine reverts SyncBN in Runner.wrap_model; the hook still catches it."""
    runner = Runner(
        model=SyncBNModel(),
        work_dir=str(tmp_path),
        experiment_name=f'syncbn-{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=TinyData(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        custom_hooks=[dict(type='SyncBNCheckHook')],
        log_level='WARNING',
        default_scope='mmdet')
    assert count_syncbn_layers(runner.model)['reverted'] == 1
    with pytest.raises(SyncBNWithoutProcessGroup, match='2 images of one GPU'):
        runner.train()
    assert runner.iter == 0
