"""Naming the rank at fault when a collective fails; the collective timeout setting.

The real thing (a rank SIGSTOPped in a 2-process gloo run, 3 s timeout) is in
tests/test_reliability/test_cluster_faults.py; here the store is an
in-process ``HashStore`` and the records are written by hand, hostile ones
included.
"""
import json
import time

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from mmscratch.engine.hooks.rank_heartbeat_hook import RankHeartbeatHook
from mmscratch.engine.hooks.safe_checkpoint_hook import CheckpointSaveError
from mmscratch.utils import dist as dist_utils
from mmscratch.utils.rank_health import (KEY_PREFIX, CollectiveFailure, diagnose,
                                         is_collective_failure, post_failure, post_progress,
                                         read_records)

GLOO_TIMEOUT = RuntimeError('[/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78]'
                            ' Timed out waiting 3000ms for recv operation to complete')
GLOO_CLOSED = RuntimeError('[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] '
                           'Connection closed by peer [127.0.0.1]:48048')


def test_collective_failures_are_recognised():
    assert is_collective_failure(GLOO_TIMEOUT) and is_collective_failure(GLOO_CLOSED)
    assert is_collective_failure(dist.DistBackendError('NCCL watchdog timeout'))
    assert not is_collective_failure(RuntimeError('CUDA out of memory'))
    assert not is_collective_failure(ValueError('Timed out waiting'))
    assert not is_collective_failure(CollectiveFailure('already explained'))


def test_a_silent_rank_is_named_with_its_last_progress():
    store = dist.HashStore()
    post_progress(store, 0, 5, 'train')
    post_progress(store, 1, 4, 'train')  # rank 1 never got further
    post_progress(store, 2, 5, 'train')
    post_failure(store, 2, GLOO_TIMEOUT, 5)  # rank 2 waited too
    started = time.time()
    message = diagnose(GLOO_TIMEOUT, 0, 3, 5, 600, store=store, grace_s=0.5)
    assert time.time() - started < 5
    assert message.startswith('rank 0: a collective failed at iteration 5 (timeout 600 s, '
                              'env_cfg.dist_cfg.timeout): [/pytorch/third_party/gloo')
    assert 'rank 1 stopped answering (hung, stopped or killed): rank 1 (host ' in message
    assert 'last recorded training iteration 4' in message
    assert 'rank 2 (' not in message  # it reported: not the one at fault
    assert '\n' not in message
    # this rank's own failure is on record for the others
    assert json.loads(store.get(KEY_PREFIX + 'failed/0'))['collective'] is True


def test_a_dead_peer_and_a_rank_that_failed_first():
    store = dist.HashStore()
    for rank in range(3):
        post_progress(store, rank, 8, 'train')
    post_failure(store, 1, CheckpointSaveError(
        'could not save checkpoint /w/iter_8.pth: No space left on device', 28,
        '/w/iter_8.pth'), 8)
    message = diagnose(GLOO_CLOSED, 0, 3, 9, 600, store=store, grace_s=0.3)
    assert 'rank 1 failed first: could not save checkpoint /w/iter_8.pth' in message
    assert 'rank 2 died or was killed (its connection closed)' in message


def test_every_rank_reporting_points_at_the_network():
    store = dist.HashStore()
    post_failure(store, 1, GLOO_TIMEOUT, 3)
    message = diagnose(GLOO_TIMEOUT, 0, 2, 3, 60, store=store, grace_s=0.2)
    assert 'every rank reported the same failure' in message


def test_hostile_records_are_data():
    store = dist.HashStore()
    store.set(KEY_PREFIX + 'progress/0', b'\xff\xfe not utf-8')
    store.set(KEY_PREFIX + 'progress/1', json.dumps([1, 2]))
    store.set(KEY_PREFIX + 'progress/2', json.dumps(dict(
        iter='7; rm -rf /', host='evil\x1b[31m\nsecond line', pid=True, phase='pwn',
        time='now')))
    store.set(KEY_PREFIX + 'progress/3', b'{' + b' ' * 10000 + b'}')
    records = read_records(store, 4, 'progress')
    assert records == {2: dict(host='evil\x1b[31m\nsecond line')}
    message = diagnose(GLOO_TIMEOUT, 0, 4, 1, 5, store=store, grace_s=0.1)
    assert '\n' not in message and '\x1b' not in message
    assert 'host evil?[31m?second line' in message


def test_without_a_store_the_error_is_still_one_line():
    message = diagnose(GLOO_TIMEOUT, 1, 2, None, None, store=None, grace_s=0)
    assert message.startswith('rank 1: a collective failed: [/pytorch/third_party/gloo')


class _BrokenStore:
    def set_timeout(self, timeout):
        pass

    def set(self, key, value):
        raise dist.DistStoreError('Socket Timeout')


def test_an_unreachable_store_points_at_rank_0():
    message = diagnose(GLOO_TIMEOUT, 1, 2, 3, 5, store=_BrokenStore(), grace_s=0.1)
    assert "the job's key-value store does not answer either" in message
    assert 'rank 0 is the first to check' in message


def test_heartbeat_hook_records_phases_and_throttles(monkeypatch):
    store = dist.HashStore()
    monkeypatch.setattr('mmscratch.engine.hooks.rank_heartbeat_hook.get_world_size', lambda: 2)
    monkeypatch.setattr('mmscratch.engine.hooks.rank_heartbeat_hook.get_rank', lambda: 1)
    monkeypatch.setattr('mmscratch.engine.hooks.rank_heartbeat_hook.default_store',
                        lambda: store)
    monkeypatch.setattr('mmscratch.engine.hooks.rank_heartbeat_hook.process_group_timeout_s',
                        lambda: 42.0)
    messages = []
    runner = type('R', (), dict(iter=0, cfg=None, logger=type('L', (), dict(
        info=lambda self, m: messages.append(m)))()))()
    hook = RankHeartbeatHook(interval_s=60)
    hook.before_train(runner)
    assert messages == ['RankHeartbeatHook: collective timeout 42 s (env_cfg.dist_cfg.timeout), '
                        '2 ranks: a rank silent that long ends the job with its name; '
                        'progress recorded in the job store']
    for it in range(3):
        runner.iter = it
        hook.before_train_iter(runner, it)
    # throttled: the record of iteration 1 (written at before_train) stays
    assert read_records(store, 2, 'progress')[1]['iter'] == 0
    hook.before_val(runner)  # a phase change is always recorded
    record = read_records(store, 2, 'progress')[1]
    assert (record['iter'], record['phase']) == (2, 'val')
    hook.before_save_checkpoint(runner, {})
    assert read_records(store, 2, 'progress')[1]['phase'] == 'save'
    hook = RankHeartbeatHook(interval_s=0)
    hook.before_train(runner)
    runner.iter = 7
    hook.before_train_iter(runner, 7)
    assert read_records(store, 2, 'progress')[1]['iter'] == 8


def test_heartbeat_hook_is_idle_on_one_process():
    hook = RankHeartbeatHook()
    hook.before_train(object())  # no world: nothing to record, nothing logged
    hook.before_train_iter(object(), 0)
    with pytest.raises(ValueError):
        RankHeartbeatHook(interval_s=-1)


# ------------------------------------------------------------- the timeout setting
def test_collective_timeout_default_and_config():
    cfg = Config(dict())
    assert dist_utils.collective_timeout_s(cfg) == dist_utils.DEFAULT_COLLECTIVE_TIMEOUT_S == 600
    assert cfg.env_cfg.dist_cfg.timeout == 600  # what MMEngine hands to init_process_group
    cfg = Config(dict(env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl',
                                                                        timeout=120))))
    assert dist_utils.collective_timeout_s(cfg) == 120
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and cfg.env_cfg.cudnn_benchmark is False
    assert dist_utils.collective_timeout_s(Config(dict(env_cfg=dict(dist_cfg=dict(
        timeout=None))))) == 600  # MMEngine's "not set"
    for bad in ('600', 0, -5, True, float('nan'), 1e12):
        with pytest.raises(ValueError, match='env_cfg.dist_cfg.timeout'):
            dist_utils.collective_timeout_s(Config(dict(env_cfg=dict(dist_cfg=dict(
                timeout=bad)))))


def test_the_same_timeout_reaches_gloo(monkeypatch):
    from mmscratch.apis.train import set_launcher
    seen = {}
    monkeypatch.setattr(dist_utils, 'needs_cpu_process_group', lambda launcher: True)
    monkeypatch.setattr(dist_utils, 'init_cpu_process_group',
                        lambda launcher, timeout_s: seen.update(timeout=timeout_s))
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(timeout=7))))
    set_launcher(cfg, 'pytorch')
    assert seen == dict(timeout=7) and cfg.env_cfg.dist_cfg.timeout == 7


def test_gloo_group_gets_the_timeout(tmp_path):
    """The timeout PyTorch applied to a real gloo group, as the hook logs it."""
    import datetime
    import multiprocessing as mp
    ctx = mp.get_context('fork')
    queue = ctx.Queue()

    def child():
        torch.set_num_threads(1)
        dist.init_process_group('gloo', init_method=f'file://{tmp_path / "pg"}', rank=0,
                                world_size=1, timeout=datetime.timedelta(seconds=7))
        queue.put(dist_utils.process_group_timeout_s())
        queue.close()
        queue.join_thread()

    proc = ctx.Process(target=child)
    proc.start()
    assert queue.get(timeout=60) == 7.0
    proc.join(30)


def test_restarted_workers_get_keys_of_their_own(monkeypatch):
    """torchrun keeps one store across restarts: each attempt's process group
    keys (peer addresses) live under a prefix of their own, so a restarted
    worker never reads the address its peer had before the restart."""
    import datetime
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    server = dist.TCPStore('127.0.0.1', port, 1, True, datetime.timedelta(seconds=10))
    server.set('default_pg/0//cpu/rank_1', 'stale address of attempt 0')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(port))
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.delenv('TORCHELASTIC_USE_AGENT_STORE', raising=False)
    assert dist_utils._attempt_store(datetime.timedelta(seconds=10)) is None  # not torchrun
    monkeypatch.setenv('TORCHELASTIC_USE_AGENT_STORE', 'True')
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '2')
    store = dist_utils._attempt_store(datetime.timedelta(seconds=10))
    assert not store.check(['default_pg/0//cpu/rank_1'])
    store.set('key', 'attempt 2')
    assert server.get('mmscratch/attempt_2/key') == b'attempt 2'
    assert dist_utils.restart_attempt() == 2
