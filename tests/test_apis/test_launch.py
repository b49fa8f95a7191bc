"""apis/launch.py: one tools/train.py run started from Python (sweeps, lever check, mini paper)."""
import subprocess
import sys

import pytest

from mmscratch.apis import launch
from mmscratch.engine.hooks.preemption_hook import PREEMPTED_EXIT_CODE, Preempted


def _fake_run(codes, calls):
    def run(argv, stdout, stderr):
        calls.append(argv)
        stdout.write('training log line\n')
        return subprocess.CompletedProcess(argv, codes[len(calls) - 1])
    return run


def test_the_child_runs_as_tools_train_and_a_preemption_is_passed_on(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(launch.subprocess, 'run', _fake_run([0, PREEMPTED_EXIT_CODE, 1], calls))
    work = tmp_path / 'run'
    launch.train_config('cfg.py', str(work), ['a=1'], 'x', extra_args=['--resume'])
    assert calls[0][0] == sys.executable and 'run_cli' in calls[0][2]
    assert calls[0][3:] == ['cfg.py', '--work-dir', str(work), '--resume', '--cfg-options', 'a=1']
    # a child stopped by a pre-emption signal (exit 75 after its save) is not a failure
    # to report with a log tail, but a run to --resume: the launcher stops the same way
    with pytest.raises(Preempted, match='--resume') as stopped:
        launch.train_config('cfg.py', str(work), [], 'x')
    assert stopped.value.exit_code == PREEMPTED_EXIT_CODE and stopped.value.saved
    with pytest.raises(RuntimeError, match='training x failed'):
        launch.train_config('cfg.py', str(work), [], 'x')


def test_a_resumed_run_appends_to_its_log(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(launch.subprocess, 'run', _fake_run([0, 0, 0], calls))
    work = tmp_path / 'run'
    launch.train_config('cfg.py', str(work), [], 'x')
    launch.train_config('cfg.py', str(work), [], 'x', extra_args=['--resume'])
    assert (work / 'train.log').read_text() == 'training log line\n' * 2
    launch.train_config('cfg.py', str(work), [], 'x')  # a new run starts a new log
    assert (work / 'train.log').read_text() == 'training log line\n'
