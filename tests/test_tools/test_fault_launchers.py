"""What the launchers do with faults, checked with stand-ins for python and srun.

tools/dist_train.sh: MAX_RESTARTS -> torchrun's --max-restarts with --resume
--allow-fresh-start; tools/dist_launch.py: torchrun's outcome -> exit status
(75 for a recorded pre-emption save); tools/slurm_train.sh: --signal, and
--requeue resubmitting with --resume on exit 75 only. Real runs through them
are in tests/test_reliability/test_cluster_faults.py.
"""
import importlib.util
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stand_in(path: Path, body: str) -> Path:
    path.write_text('#!/usr/bin/env bash\n' + body)
    path.chmod(0o755)
    return path


def _dist_train(tmp_path, *args, **env):
    fake = _stand_in(tmp_path / 'python', 'echo "PET_SHUTDOWN_TIMEOUT=$PET_SHUTDOWN_TIMEOUT"\n'
                     'printf "%s\\n" "$@"\n')
    return subprocess.run(['bash', str(REPO / 'tools' / 'dist_train.sh'), 'cfg.py', '2', *args],
                          env=dict(os.environ, PYTHON=str(fake), **env), capture_output=True,
                          text=True, timeout=60)


def test_dist_train_restarts_through_torchrun_with_resume(tmp_path):
    proc = _dist_train(tmp_path, '--work-dir', 'w', MAX_RESTARTS='3')
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.splitlines()
    assert args[0] == 'PET_SHUTDOWN_TIMEOUT=120'
    assert args[1] == str(REPO / 'tools' / 'dist_launch.py')
    assert '--max-restarts=3' in args and '--nproc_per_node=2' in args
    assert args[-8:] == [str(REPO / 'tools' / 'train.py'), 'cfg.py', '--launcher', 'pytorch',
                         '--work-dir', 'w', '--resume', '--allow-fresh-start']


def test_dist_train_without_restarts_adds_nothing(tmp_path):
    proc = _dist_train(tmp_path, SHUTDOWN_TIMEOUT='300')
    args = proc.stdout.splitlines()
    assert args[0] == 'PET_SHUTDOWN_TIMEOUT=300'
    assert '--max-restarts=0' in args
    assert '--resume' not in args and args[-2:] == ['--launcher', 'pytorch']


def test_dist_train_keeps_a_given_resume_and_refuses_a_path(tmp_path):
    proc = _dist_train(tmp_path, '--resume', '--amp', MAX_RESTARTS='1')
    assert proc.stdout.splitlines()[-3:] == ['--resume', '--amp', '--allow-fresh-start']
    proc = _dist_train(tmp_path, '--resume', 'w/iter_5.pth', MAX_RESTARTS='1')
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.startswith('error: MAX_RESTARTS resumes each restart from the work '
                                  "dir's last checkpoint")
    proc = _dist_train(tmp_path, MAX_RESTARTS='many')
    assert proc.returncode == 2 and 'MAX_RESTARTS=many is not a number' in proc.stderr


# ------------------------------------------------------------------ dist_launch.py
@pytest.fixture
def dist_launch(monkeypatch):
    spec = importlib.util.spec_from_file_location('dist_launch', REPO / 'tools' / 'dist_launch.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.delenv(module.RECORD_ENV, raising=False)
    for var in ('PET_SIGNALS_TO_HANDLE', 'TORCHELASTIC_SIGNALS_TO_HANDLE'):
        monkeypatch.delenv(var, raising=False)
    yield module
    os.environ.pop(module.RECORD_ENV, None)


def _torchrun(monkeypatch, behaviour):
    from torch.distributed import run
    monkeypatch.setattr(run, 'main', behaviour)


def test_dist_launch_exit_status(dist_launch, monkeypatch, capsys):
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from mmscratch.engine.hooks.preemption_hook import PREEMPTED_EXIT_CODE, RECORD_ENV
    assert dist_launch.PREEMPTED_EXIT_CODE == PREEMPTED_EXIT_CODE
    assert dist_launch.RECORD_ENV == RECORD_ENV
    seen = {}

    def finished(argv):
        seen.update(argv=argv, signals=os.environ['PET_SIGNALS_TO_HANDLE'],
                    record=os.environ[RECORD_ENV])

    _torchrun(monkeypatch, finished)
    assert dist_launch.main(['--nproc_per_node=2', 'train.py']) == 0
    assert seen['argv'] == ['--nproc_per_node=2', 'train.py']
    assert 'SIGUSR1' in seen['signals'] and 'SIGTERM' in seen['signals']
    assert not Path(seen['record']).parent.exists()  # the private directory is removed

    def preempted_and_saved(argv):  # what local rank 0's PreemptionHook leaves
        Path(os.environ[RECORD_ENV]).write_text(json.dumps(dict(
            exit_code=75, iteration=8, checkpoint='/w/iter_8.pth', signal='SIGTERM')))
        raise SignalException('got SIGTERM', sigval=signal.SIGTERM)

    _torchrun(monkeypatch, preempted_and_saved)
    assert dist_launch.main([]) == 75
    assert 'pre-empted: iteration 8 saved to /w/iter_8.pth; exit 75' in capsys.readouterr().err

    def stopped_unsaved(argv):
        raise SignalException('got SIGTERM', sigval=signal.SIGTERM)

    _torchrun(monkeypatch, stopped_unsaved)
    assert dist_launch.main([]) == 128 + signal.SIGTERM

    def crashed(argv):
        raise RuntimeError('ChildFailedError table')

    _torchrun(monkeypatch, crashed)
    assert dist_launch.main([]) == 1
    assert 'RuntimeError: ChildFailedError table' in capsys.readouterr().err

    def bad_usage(argv):
        raise SystemExit(2)

    _torchrun(monkeypatch, bad_usage)
    assert dist_launch.main([]) == 2


def test_dist_launch_trusts_only_its_own_record(dist_launch, tmp_path):
    path = tmp_path / 'record.json'
    assert dist_launch.read_record(str(path)) is None
    path.write_text(json.dumps(dict(exit_code=0)))
    assert dist_launch.read_record(str(path)) is None
    path.write_text('not json')
    assert dist_launch.read_record(str(path)) is None
    path.write_text('{"exit_code": 75' + ' ' * 5000 + '}')
    assert dist_launch.read_record(str(path)) is None
    target = tmp_path / 'elsewhere.json'
    target.write_text(json.dumps(dict(exit_code=75)))
    link = tmp_path / 'link.json'
    link.symlink_to(target)
    assert dist_launch.read_record(str(link)) is None  # a planted link is not followed
    assert dist_launch.read_record(str(target)) == dict(exit_code=75)


# ---------------------------------------------------------------- slurm_train.sh
def _slurm(tmp_path, codes, *args, **env):
    """slurm_train.sh with an srun that logs its arguments and exits with the
    next of ``codes``."""
    calls = tmp_path / 'calls'
    count = tmp_path / 'count'
    codes_file = tmp_path / 'codes'
    codes_file.write_text('\n'.join(map(str, codes)) + '\n')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    _stand_in(bin_dir / 'srun',
              f'echo "$*" >> {calls}\n'
              f'n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}\n'
              f'exit $(sed -n "${{n}}p" {codes_file})\n')
    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'slurm_train.sh'), 'part', 'job', 'cfg.py', 'w', *args],
        env=dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', PYTHON='python3', **env),
        capture_output=True, text=True, timeout=60)
    return proc, calls.read_text().splitlines() if calls.exists() else []


def test_slurm_asks_for_the_signal_and_requeues_only_a_saved_preemption(tmp_path):
    proc, calls = _slurm(tmp_path, [75, 75, 0], '--requeue', '--amp')
    assert proc.returncode == 0 and len(calls) == 3
    assert all('--signal=USR1@120' in c for c in calls)
    assert calls[0].endswith('--work-dir=w --launcher=slurm --amp')
    assert calls[1].endswith('--launcher=slurm --amp --resume')
    assert calls[2].endswith('--launcher=slurm --amp --resume')
    assert 'submitting it again with --resume (2/20)' in proc.stderr


@pytest.mark.parametrize('code', [1, 137, 143])
def test_slurm_does_not_requeue_a_failure(tmp_path, code):
    proc, calls = _slurm(tmp_path, [code, 0], '--requeue')
    assert proc.returncode == code and len(calls) == 1


def test_slurm_requeues_at_most_max_requeues(tmp_path):
    proc, calls = _slurm(tmp_path, [75] * 5, '--requeue', MAX_REQUEUES='2')
    assert proc.returncode == 75 and len(calls) == 3


def test_slurm_without_requeue_or_signal(tmp_path):
    proc, calls = _slurm(tmp_path, [75, 0], SIGNAL='')
    assert proc.returncode == 75 and len(calls) == 1 and '--signal' not in calls[0]


def test_slurm_requeue_resumes_the_latest_not_a_given_path(tmp_path):
    proc, calls = _slurm(tmp_path, [75, 0], '--resume', 'w/iter_5.pth', '--requeue',
                         '--cfg-options', 'a=1', SIGNAL='USR1@300')
    assert '--signal=USR1@300' in calls[0]
    assert calls[0].endswith('--resume w/iter_5.pth --cfg-options a=1')
    assert calls[1].endswith('--launcher=slurm --cfg-options a=1 --resume')
    assert 'iter_5' not in calls[1]
