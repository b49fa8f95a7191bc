"""Cluster faults on real ``tools/train.py`` runs of a toy model (CPU, gloo DDP).

* pre-emption: SIGTERM from outside between two checkpoints (one process with
  a dataloader worker, the signal sent to the whole process group; and a
  2-process ``tools/dist_train.sh`` run, the signal sent to the launcher as
  Kubernetes does): a checkpoint of the current iteration, exit 75, and
  ``--resume`` ends bit-identical to a run that never stopped;
* ``tools/slurm_train.sh --requeue`` (a stand-in ``srun`` runs the command):
  Slurm's SIGUSR1 ahead of the time limit saves and exits 75, the script
  submits again with ``--resume``, the run finishes identical;
* ``MAX_RESTARTS=1``: rank 0 SIGKILLed once mid-run (its work-dir lock left
  behind): torchrun restarts the job, which takes the lock over, resumes and
  finishes with exit 0 and the uninterrupted run's weights;
* a rank that stops answering (SIGSTOP) with a 3 s collective timeout: the
  job ends in seconds with a line naming that rank;
* a work dir on a 2 MiB tmpfs (where mounting is allowed): the save that
  does not fit ends in one ``error:`` line, warned about at start.

The uninterrupted runs (one and two processes) are made once per module.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mmscratch  # noqa: F401  (safe torch.load of the checkpoints)
from tests.test_reliability.toy_train import INTERVAL, REPO, TOTAL_ITERS, env, write_toy_config

pytestmark = pytest.mark.slow

TRAIN = str(REPO / 'tools' / 'train.py')
DIST_TRAIN = str(REPO / 'tools' / 'dist_train.sh')
SLURM_TRAIN = str(REPO / 'tools' / 'slurm_train.sh')
FINAL = f'iter_{TOTAL_ITERS}.pth'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _train(config, work_dir, *args, timeout=300, **kwargs):
    return subprocess.run([sys.executable, TRAIN, str(config), '--work-dir', str(work_dir),
                           *map(str, args)], cwd=str(REPO), env=env(), capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def _dist_env(**extra) -> dict:
    return env(PYTHON=sys.executable, PORT=str(_free_port()), **extra)


def _dist_train(config, work_dir, *args, timeout=300, extra_env=None):
    return subprocess.run(['bash', DIST_TRAIN, str(config), '2', '--work-dir', str(work_dir),
                           *map(str, args)], cwd=str(REPO), env=_dist_env(**(extra_env or {})),
                          capture_output=True, text=True, timeout=timeout)


def _log(proc) -> str:
    return (proc.stdout or '') + (proc.stderr or '')


def _assert_same_final(a_dir: Path, b_dir: Path) -> None:
    a, b = torch.load(a_dir / FINAL), torch.load(b_dir / FINAL)
    assert a['meta']['iter'] == b['meta']['iter'] == TOTAL_ITERS
    mismatched = [k for k in a['state_dict']
                  if not torch.equal(a['state_dict'][k], b['state_dict'][k])]
    assert mismatched == [], mismatched
    state_a, state_b = a['optimizer']['state'], b['optimizer']['state']
    assert state_a.keys() == state_b.keys() and state_a
    for k in state_a:
        assert all(torch.equal(state_a[k][n], state_b[k][n]) for n in state_a[k]), k


def _last_checkpoint(work_dir: Path) -> str:
    return Path((work_dir / 'last_checkpoint').read_text().strip()).name


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    """Uninterrupted runs: one process (with a dataloader worker) and two (gloo DDP)."""
    root = tmp_path_factory.mktemp('straight')
    one = _train(write_toy_config(root / 'one.py', num_workers=1), root / 'one')
    assert one.returncode == 0, _log(one)[-3000:]
    two = _dist_train(write_toy_config(root / 'two.py'), root / 'two')
    assert two.returncode == 0, _log(two)[-3000:]
    return dict(one=root / 'one', two=root / 'two')


def _start_and_signal(cmd, progress: Path, after: int, *, to_group: bool, extra_env=None,
                      sig=signal.SIGTERM, timeout=240):
    """Start ``cmd`` in its own session; once ``progress`` says iteration
    ``after`` is done, send ``sig`` to the process group or to the process."""
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=extra_env or env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            text = progress.read_text() if progress.exists() else ''
            if text.isdigit() and int(text) >= after:
                break
            if proc.poll() is not None:
                pytest.fail(f'the run ended before the signal:\n{proc.stdout.read()[-3000:]}')
            time.sleep(0.05)
        else:
            pytest.fail('the run did not reach the iteration to signal at')
        signalled_after = int(progress.read_text())
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, signalled_after


def _slow_config(path: Path, progress: Path, **kwargs) -> str:
    # half a second per iteration from iteration 6 on: the signal lands between
    # the checkpoints of iterations 5 and 10
    return write_toy_config(path, hooks=[dict(type='ProgressFileHook', path=str(progress),
                                              slow_from=6, sleep_s=0.5)], **kwargs)


def test_sigterm_saves_the_current_iteration_and_resume_is_exact(tmp_path, straight):
    progress = tmp_path / 'progress'
    config = _slow_config(tmp_path / 'toy.py', progress, num_workers=1)
    work_dir = tmp_path / 'work'
    code, out, after = _start_and_signal(
        [sys.executable, TRAIN, config, '--work-dir', str(work_dir)], progress, 6,
        to_group=True)  # the dataloader worker gets it too, as from Slurm or torchrun
    assert code == 75, out[-3000:]
    saved = _last_checkpoint(work_dir)
    step = int(saved[len('iter_'):-len('.pth')])
    # acted on at the iteration after the signal: between two checkpoint intervals
    assert after < step < 2 * INTERVAL and step % INTERVAL != 0, (after, saved)
    assert f'PreemptionHook: SIGTERM: saved {work_dir / saved}' in out
    assert 'exiting with code 75' in out and 'Traceback' not in out
    assert torch.load(work_dir / saved)['meta']['iter'] == step
    assert not list(work_dir.glob('.*.tmp')) and not (work_dir / 'run.lock').exists()

    resumed = _train(config, work_dir, '--resume')
    assert resumed.returncode == 0, _log(resumed)[-3000:]
    assert f'resumed epoch: 0, iter: {step}' in _log(resumed)
    _assert_same_final(straight['one'], work_dir)


def test_sigterm_to_the_ddp_launcher_saves_and_resume_is_exact(tmp_path, straight):
    progress = tmp_path / 'progress'
    config = _slow_config(tmp_path / 'toy.py', progress)
    work_dir = tmp_path / 'work'
    code, out, after = _start_and_signal(
        ['bash', DIST_TRAIN, config, '2', '--work-dir', str(work_dir)], progress, 6,
        to_group=False, extra_env=_dist_env())  # as Kubernetes: to the first process only
    assert code == 75, out[-4000:]
    saved = _last_checkpoint(work_dir)
    step = int(saved[len('iter_'):-len('.pth')])
    assert after < step < 2 * INTERVAL and step % INTERVAL != 0, (after, saved)
    assert f'dist_launch: pre-empted: iteration {step} saved to {work_dir / saved}' in out
    ckpt = torch.load(work_dir / saved)
    assert ckpt['meta']['iter'] == step
    assert len(ckpt['exact_resume']['rng']) == 2  # both ranks' RNG states were gathered

    resumed = _dist_train(config, work_dir, '--resume')
    assert resumed.returncode == 0, _log(resumed)[-3000:]
    _assert_same_final(straight['two'], work_dir)


def test_slurm_requeue_resumes_after_the_time_limit_signal(tmp_path, straight):
    """srun is a stand-in that logs its arguments and runs the task as Slurm
    would (one task, the slurm launcher); the task gets SIGUSR1 once, as
    ``--signal=USR1@120`` sends it before the time limit."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    calls = tmp_path / 'srun_calls'
    port = _free_port()
    (bin_dir / 'srun').write_text(
        '#!/usr/bin/env bash\n'
        f'echo "$*" >> {calls}\n'
        'while [[ "$1" == --* ]]; do shift; done\n'
        f'SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost '
        f'MASTER_ADDR=127.0.0.1 MASTER_PORT={port} exec "$@"\n')
    (bin_dir / 'srun').chmod(0o755)
    once = tmp_path / 'signalled_once'
    config = write_toy_config(tmp_path / 'toy.py', num_workers=1, hooks=[dict(
        type='SignalAtIterHook', at=7, signal='SIGUSR1', once_file=str(once))])
    work_dir = tmp_path / 'work'
    proc = subprocess.run(
        ['bash', SLURM_TRAIN, 'partition', 'job', config, str(work_dir), '--requeue'],
        cwd=str(REPO), env=env(PATH=f'{bin_dir}:{os.environ["PATH"]}', PYTHON=sys.executable),
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, _log(proc)[-4000:]
    first, second = calls.read_text().splitlines()
    assert '--signal=USR1@120' in first and '--resume' not in first
    assert second.endswith('--launcher=slurm --resume')
    assert 'submitting it again with --resume (1/20)' in proc.stderr
    assert 'PreemptionHook: SIGUSR1: saved' in _log(proc)
    _assert_same_final(straight['one'], work_dir)


def test_max_restarts_restarts_a_killed_worker_from_its_checkpoint(tmp_path, straight):
    """Rank 0 (the holder of run.lock) is SIGKILLed once after iteration 7:
    torchrun restarts both workers, the new rank 0 takes over the dead
    holder's lock, resumes from iter_5 and finishes as if nothing happened."""
    once = tmp_path / 'killed_once'
    config = write_toy_config(tmp_path / 'toy.py', hooks=[dict(
        type='SignalAtIterHook', at=7, signal='SIGKILL', rank=0, once_file=str(once))])
    work_dir = tmp_path / 'work'
    proc = _dist_train(config, work_dir, extra_env=dict(MAX_RESTARTS='1'))
    log = _log(proc)
    assert proc.returncode == 0, log[-4000:]
    assert once.exists()  # the kill happened
    assert 'work dir lock: took over' in log
    assert 'resumed epoch: 0, iter: 5' in log
    _assert_same_final(straight['two'], work_dir)


def test_a_rank_that_stops_answering_is_named(tmp_path):
    config = write_toy_config(tmp_path / 'toy.py', hooks=[dict(
        type='SignalAtIterHook', at=4, signal='SIGSTOP', rank=1)])
    # a hang would run into the subprocess timeout: the job must end by itself
    proc = _dist_train(config, tmp_path / 'work', '--cfg-options', 'env_cfg.dist_cfg.timeout=3',
                       extra_env=dict(SHUTDOWN_TIMEOUT='2'), timeout=240)
    log = _log(proc)
    assert proc.returncode != 0
    assert 'RankHeartbeatHook: collective timeout 3 s (env_cfg.dist_cfg.timeout), 2 ranks' in log
    lines = [line for line in log.splitlines() if line.startswith('error: rank 0:')]
    assert len(lines) == 1, log[-4000:]
    assert 'a collective failed at iteration 5 (timeout 3 s, env_cfg.dist_cfg.timeout)' in \
        lines[0]
    assert 'rank 1 stopped answering (hung, stopped or killed): rank 1 (host ' in lines[0]
    assert 'last recorded training iteration' in lines[0]
    # the pid named is the process torchrun had to SIGKILL (stopped processes ignore SIGTERM)
    named = re.search(r'rank 1 \(host [^,]+, pid (\d+)', lines[0]).group(1)
    assert re.search(r'exitcode\s*:\s*-9 \(pid: (\d+)\)', log).group(1) == named


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    try:
        return subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs',
                               str(path)], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_full_disk_is_one_error_line(tmp_path):
    work_dir = tmp_path / 'small'
    if not _mount_tmpfs(work_dir, '2m'):
        pytest.skip('cannot mount a tmpfs here (needs root)')
    try:
        # ~0.75 MiB per checkpoint (a ballast buffer), every 5 iterations, 3 kept:
        # two fit, the third (iteration 15) does not
        config = write_toy_config(tmp_path / 'toy.py', ballast=190_000, max_keep=3)
        proc = _train(config, work_dir)
        assert proc.returncode == 1, _log(proc)[-3000:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
        assert len(errors) == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
        assert errors[0].startswith(f'error: could not save checkpoint {work_dir}/iter_15.pth: '
                                    'No space left on device (errno 28)')
        needed, free = re.search(r'; ([\d.]+) KiB needed, ([\d.]+) KiB free on ',
                                 errors[0]).groups()
        assert float(needed) > float(free) and float(needed) > 700
        assert f'the last good checkpoint is {work_dir}/iter_10.pth' in errors[0]
        assert '--resume' in errors[0]
        # warned at start, with the save that would fail
        assert 'SafeCheckpointHook: disk space:' in _log(proc)
        assert 'save 3 from now (iteration 15) will fail' in _log(proc)
        assert not list(work_dir.glob('.*.tmp'))
        assert _last_checkpoint(work_dir) == 'iter_10.pth'
        assert torch.load(work_dir / 'iter_10.pth')['meta']['iter'] == 10
    finally:
        subprocess.run(['umount', str(work_dir)], capture_output=True, timeout=30)
