"""torchrun with an exit status a scheduler can act on (``tools/dist_train.sh`` runs it).

    python tools/dist_launch.py [torchrun options] tools/train.py CONFIG --launcher pytorch ...

torchrun (``torch.distributed.run``) runs in this very process, so it gets the
signals a scheduler sends (Kubernetes signals only the container's first
process) and forwards them to its workers exactly as plain torchrun does; its
``--max-restarts`` restarts crashed workers. torchrun exits 1 whatever its
workers returned, so this wrapper gives each worker generation a record file
(``MMSCRATCH_PREEMPTION_RECORD``, in a private temporary directory) in which
local rank 0's ``PreemptionHook`` notes a pre-emption save, and exits:

* 0 when training finished;
* 75 when the workers saved their current iteration on a pre-emption signal
  (resume with ``--resume``);
* 128 + N when torchrun was stopped by signal N and nothing was saved;
* 1 on any other failure (the workers' errors are above it).

It also makes torchrun forward SIGUSR1 (Slurm's ``--signal``), unless
``PET_SIGNALS_TO_HANDLE`` says otherwise, and wait ``PET_SHUTDOWN_TIMEOUT``
seconds (``SHUTDOWN_TIMEOUT`` of ``tools/dist_train.sh``) before it SIGKILLs
workers it asked to stop. Only the standard library and torch are imported
here, so the launcher starts fast.
"""
import json
import os
import shutil
import sys
import tempfile

PREEMPTED_EXIT_CODE = 75  # mmscratch.engine.hooks.preemption_hook.PREEMPTED_EXIT_CODE
RECORD_ENV = 'MMSCRATCH_PREEMPTION_RECORD'
SIGNALS_TO_HANDLE = 'SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1'


def read_record(path):
    """The pre-emption record local rank 0 left, or None (missing, a link, not ours)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    except OSError:
        return None
    try:
        data = os.read(fd, 4097)
    finally:
        os.close(fd)
    try:
        record = json.loads(data.decode('utf-8')) if len(data) <= 4096 else None
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get('exit_code') != PREEMPTED_EXIT_CODE:
        return None
    return record


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    record_dir = tempfile.mkdtemp(prefix='mmscratch-launch-')
    record_path = os.path.join(record_dir, 'preempted.json')
    os.environ[RECORD_ENV] = record_path
    os.environ.setdefault('PET_SIGNALS_TO_HANDLE', SIGNALS_TO_HANDLE)
    os.environ.setdefault('TORCHELASTIC_SIGNALS_TO_HANDLE', os.environ['PET_SIGNALS_TO_HANDLE'])
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    code = 0
    try:
        torchrun.main(argv)
    except SignalException as exc:
        code = 128 + int(exc.sigval)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # ChildFailedError: its text is the table of failed ranks
        print(f'{type(exc).__name__}: {exc}', file=sys.stderr)
        code = 1
    finally:
        record = read_record(record_path)
        shutil.rmtree(record_dir, ignore_errors=True)
    if code != 0 and record is not None:
        where = record.get('checkpoint') if isinstance(record.get('checkpoint'), str) else '?'
        iteration = record.get('iteration') if isinstance(record.get('iteration'), int) else '?'
        where = ''.join(c if ' ' <= c <= '~' else '?' for c in where[:500])
        print(f'dist_launch: pre-empted: iteration {iteration} saved to {where}; exit '
              f'{PREEMPTED_EXIT_CODE}: run again with --resume to continue', file=sys.stderr)
        code = PREEMPTED_EXIT_CODE
    return code


if __name__ == '__main__':
    sys.exit(main())
