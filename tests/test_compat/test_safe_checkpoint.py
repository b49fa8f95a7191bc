"""mmengine checkpoints load and resume on torch >= 2.6, malicious ones do not."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

import mmscratch  # noqa: F401  (registers the allow-list)
from mmscratch.compat import register_safe_globals
from mmscratch.compat.safe_checkpoint import history_buffer_getattr

from .toy_runner import make_toy_runner


@pytest.fixture(scope='module')
def trained_work_dir(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('toy')
    make_toy_runner(work_dir, max_iters=4).train()
    return work_dir


def test_torch_defaults_to_weights_only():
    # The premise of the fix: without it, plain torch.load refuses these files.
    import inspect
    assert 'weights_only' in inspect.signature(torch.load).parameters
    assert register_safe_globals() is True


def test_checkpoint_holds_non_tensor_state_and_loads_safely(trained_work_dir):
    path = trained_work_dir / 'iter_4.pth'
    # Without our allow-list, torch refuses the file (HistoryBuffer, numpy, getattr).
    allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path)
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    finally:
        torch.serialization.add_safe_globals(allowed)
    ckpt = torch.load(path)  # weights_only=True by default on torch >= 2.6
    assert ckpt['meta']['iter'] == 4
    buffers = ckpt['message_hub']['log_scalars']
    assert isinstance(buffers['train/loss'], HistoryBuffer)
    assert buffers['train/loss'].mean() == pytest.approx(buffers['train/loss'].mean())
    via_mmengine = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert set(via_mmengine) >= {'meta', 'state_dict', 'optimizer', 'message_hub',
                                 'param_schedulers'}


def test_fresh_process_loads_checkpoint(trained_work_dir):
    # A process that never built a HistoryBuffer (tools/test.py, a new job
    # resuming) must load it too: the allow-list may not depend on such state.
    code = ('import torch, mmscratch, sys; '
            'ckpt = torch.load(sys.argv[1]); '
            'print(ckpt["meta"]["iter"], type(ckpt["message_hub"]["log_scalars"]["train/loss"]).__name__)')
    out = subprocess.run([sys.executable, '-c', code, str(trained_work_dir / 'iter_4.pth')],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ['4', 'HistoryBuffer']


def test_resume_continues_from_saved_iteration(trained_work_dir):
    runner = make_toy_runner(trained_work_dir, max_iters=6, resume=True)
    runner.train()
    assert runner.iter == 6
    # the optimizer's momentum buffers came back from the checkpoint
    state = runner.optim_wrapper.optimizer.state
    assert all('momentum_buffer' in s for s in state.values())
    assert os.path.isfile(trained_work_dir / 'iter_6.pth')


def test_load_from_restores_weights(trained_work_dir, tmp_path):
    saved = torch.load(trained_work_dir / 'iter_4.pth')['state_dict']
    runner = make_toy_runner(tmp_path, max_iters=4, load_from=str(trained_work_dir / 'iter_4.pth'))
    runner.load_or_resume()
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, saved[name])


class _RunsShell:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f'touch {self.sentinel}',))


class _WalksAttributes:
    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    sentinel = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsShell(sentinel)}, path)
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    assert not sentinel.exists()


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'walk.pth'
    torch.save({'x': _WalksAttributes()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path)
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_getattr(os, 'system')
