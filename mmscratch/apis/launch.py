"""Launching training from Python: one run of ``tools/train.py``, in this
process or a fresh one (the sweeps, the lever check, the mini paper).

Analysis never launches anything (detectron2 keeps ``engine/launch.py``
apart from its evaluation the same way): the launchers built on this module
(:mod:`.small_data_sweep`, :mod:`.lever_check`) call the analyses on what
the runs wrote.
"""
from __future__ import annotations

import os
import os.path as osp
import subprocess
import sys
from typing import Sequence

from ..engine.hooks.preemption_hook import PREEMPTED_EXIT_CODE, Preempted
from ..utils.atomic_io import create_log_file


def train_config(config: str, work_dir: str, cfg_options: Sequence[str], label: str,
                 in_process: bool = False, extra_args: Sequence[str] = ()) -> None:
    """``tools/train.py CONFIG --work-dir WORK_DIR [EXTRA_ARGS] --cfg-options ...``:
    in this process (fast to start, for tests and small runs) or in a fresh
    Python process (the default: every run starts from clean registries and
    frees its memory when it ends; its output goes to ``WORK_DIR/train.log``,
    appended to by a resumed run). ``extra_args`` are more flags of
    ``tools/train.py``, e.g. ``--resume``."""
    argv = [config, '--work-dir', work_dir, *extra_args, '--cfg-options', *cfg_options]
    os.makedirs(work_dir, exist_ok=True)
    if in_process:
        from .train import main
        main(argv)
        return
    # run_cli: the child exits as tools/train.py does (75 after a pre-emption save)
    code = ('import sys; from mmscratch.apis.cli import run_cli; '
            'from mmscratch.apis.train import main; run_cli(lambda: main(sys.argv[1:]))')
    log_path = osp.join(work_dir, 'train.log')
    with os.fdopen(create_log_file(log_path, append='--resume' in extra_args), 'w') as log:
        proc = subprocess.run([sys.executable, '-c', code, *argv],
                              stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode == PREEMPTED_EXIT_CODE:
        raise Preempted(f'training {label} was stopped by a pre-emption signal after saving '
                        f'its iteration (log: {log_path}); run the same command with --resume '
                        'to continue it', True, PREEMPTED_EXIT_CODE, None)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'training {label} failed (exit {proc.returncode}); '
                           f'log: {log_path}\n{tail}')
