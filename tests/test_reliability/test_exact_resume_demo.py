"""Exact resume of the real demo model: SIGKILL before iteration 6, ``--resume``,
and the final weights are bit-identical to a run that never stopped.

The interrupted run is a separate process killed with SIGKILL (no cleanup),
and the resume is ``tools/train.py --resume`` in a fresh process, as a
requeued job does. Deterministic mode on CPU, one dataloader worker.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mmscratch  # noqa: F401  (safe torch.load of the checkpoints)
from mmscratch.testing.demo import (TOTAL_ITERS, log_text, make_tiny_dataset,
                                    write_demo_config)

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

HOOKS = [dict(type='DataSeenHook', sync_interval=1),
         dict(type='ConvergenceCurveHook', eval_iters=[4, 8], plot=False),
         dict(type='ExactResumeHook'),
         dict(type='DivergenceRecoveryHook')]
KILL_AT = 6  # checkpoint at 3; iterations 4-5 and the evaluation at 4 are lost


def _train_cli(config, *args):
    path = [str(REPO)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), config, *map(str, args)],
        cwd=str(REPO), env=dict(os.environ, PYTHONPATH=os.pathsep.join(path)),
        capture_output=True, text=True, timeout=600)


@pytest.fixture(autouse=True)
def _no_global_determinism_leak():
    yield
    torch.use_deterministic_algorithms(False)


def _curve(work_dir):
    records = [json.loads(line) for line in (work_dir / 'curve.jsonl').read_text().splitlines()]
    for record in records:
        record.pop('wall_time_s')
    return records


@pytest.mark.parametrize('optim_wrapper,ops_hooks', [
    ('OptimWrapper', []), ('BF16OptimWrapper', []),
    ('BF16OptimWrapper', [dict(type='FastCPUOpsHook')])],  # what make demo trains
    ids=['fp32', 'bf16', 'bf16-fast-cpu-ops'])
def test_killed_and_resumed_demo_run_is_bit_identical(tmp_path, optim_wrapper, ops_hooks):
    """fp32, bf16 autocast (BF16OptimWrapper), and bf16 with mmscratch's CPU
    ops (make demo's settings): each resumes bit-exactly."""
    data_root = make_tiny_dataset(tmp_path / 'shapes', num_val=4)
    wrapper = dict(optim_wrapper=dict(type=optim_wrapper))
    config = write_demo_config(tmp_path / 'demo.py', data_root, HOOKS + ops_hooks, **wrapper)
    killing = write_demo_config(
        tmp_path / 'demo_killed.py', data_root,
        HOOKS + ops_hooks + [dict(type='SigkillBeforeIterHook', at=KILL_AT)],
        test_hook_module=True, **wrapper)
    straight_dir, killed_dir = tmp_path / 'straight', tmp_path / 'killed'
    # Both runs in fresh processes: an in-process run would inherit thread and
    # determinism settings left by earlier tests, and floating-point sums
    # change with the thread count.
    straight = _train_cli(config, '--work-dir', straight_dir)
    assert straight.returncode == 0, (straight.stdout + straight.stderr)[-3000:]
    assert f"type='{optim_wrapper}'" in (straight_dir / 'demo.py').read_text()

    killed = _train_cli(killing, '--work-dir', killed_dir)
    assert killed.returncode == -9, (killed.stdout + killed.stderr)[-3000:]
    assert (killed_dir / 'last_checkpoint').read_text().endswith('iter_3.pth')

    resumed = _train_cli(config, '--work-dir', killed_dir, '--resume')
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    log = log_text(killed_dir)
    assert 'resumed epoch: 0, iter: 3' in log and 'Advance dataloader 3 steps' in log

    final = f'iter_{TOTAL_ITERS}.pth'
    a = torch.load(straight_dir / final)
    b = torch.load(killed_dir / final)
    mismatched = [k for k in a['state_dict']
                  if not torch.equal(a['state_dict'][k], b['state_dict'][k])]
    assert mismatched == [], f'{len(mismatched)} tensors differ, e.g. {mismatched[:3]}'
    # the optimizer's state (AdamW's moments and steps, SGD's momentum) too
    state_a, state_b = a['optimizer']['state'], b['optimizer']['state']
    assert state_a.keys() == state_b.keys() and state_a
    for k in state_a:
        assert state_a[k].keys() == state_b[k].keys()
        assert all(torch.equal(torch.as_tensor(state_a[k][n]), torch.as_tensor(state_b[k][n]))
                   for n in state_a[k]), k
    assert a['optimizer']['param_groups'][0]['lr'] == b['optimizer']['param_groups'][0]['lr']
    # hook state: data counters and the convergence curve survived the crash
    assert a['data_seen'] == b['data_seen'] and a['data_seen']['images'] == 4 * TOTAL_ITERS
    assert _curve(straight_dir) == _curve(killed_dir)
    assert [r['iter'] for r in _curve(killed_dir)] == [4, 8]
