"""Kill training with SIGKILL during checkpoint saves; ``--resume`` must recover.

28 trials with SafeCheckpointHook (before every step of its save protocol
in turn, then at random moments), each followed by what ``--resume`` does:
find the checkpoint through ``last_checkpoint``, load it with the safe
loader, lose at most one checkpoint interval, and train on. A control runs the same random
kills against MMEngine's CheckpointHook, which must fail some of them.
"""
import random

import pytest

import mmscratch  # noqa: F401  (registers the hooks)
from tests.test_reliability.kill_harness import check_recovery, run_trial

# The 20 calls of os.fsync/os.replace/os.remove in the first three saves:
# 6 for the first (commit iter_1, commit last_checkpoint), 7 for each of the
# next two, which also delete the previous checkpoint (max_keep_ckpts=1, the
# harshest setting: a single checkpoint on disk).
PROTOCOL_POINTS = range(1, 21)
RANDOM_SEEDS = range(8)


def _assert_recovered(trial):
    assert trial.violations == [], (trial, trial.violations)


@pytest.mark.parametrize('kill_before', PROTOCOL_POINTS)
def test_kill_at_each_step_of_the_save_protocol(tmp_path, kill_before):
    trial = check_recovery(run_trial(tmp_path, kill_before=kill_before))
    assert trial.exitcode == -9  # it really was killed, mid-save
    _assert_recovered(trial)


@pytest.mark.parametrize('seed', RANDOM_SEEDS)
def test_kill_at_random_moments(tmp_path, seed):
    delay = random.Random(seed).uniform(0.0, 0.4)
    trial = check_recovery(run_trial(tmp_path, delay=delay))
    assert trial.exitcode == -9
    _assert_recovered(trial)


def test_kills_hit_saves_in_progress(tmp_path):
    # The random trials are meaningful only if kills land inside saves: with
    # slowed writes most do, leaving a partial temporary file behind.
    hits = sum(bool(run_trial(tmp_path / str(i), delay=0.05 + 0.03 * i).partial_files)
               for i in range(4))
    assert hits >= 2


@pytest.mark.slow
def test_control_mmengine_checkpoint_hook_loses_the_run(tmp_path):
    # MMEngine deletes the old checkpoint before writing the new one in place:
    # the same kind of kill leaves last_checkpoint naming a deleted file or a
    # truncated one. If this ever passes, the harness no longer tests anything.
    failures = 0
    for i in range(6):
        trial = check_recovery(run_trial(tmp_path / str(i), delay=0.05 + 0.05 * i,
                                         checkpoint_type='CheckpointHook'))
        failures += bool(trial.violations)
    assert failures >= 1
