"""How every command-line tool ends on a user error: one ``error:`` line, exit 1.

A missing or malformed file, a config that cannot train, a bad flag, a run
that is not from scratch, too many bad images, repeated divergence, a
checkpoint the disk cannot hold or a rank that stopped answering are the
user's (or the cluster's) to fix; a stack trace from deep inside MMEngine would hide the
message. Anything else is a bug and keeps its traceback. ``--debug`` (or
``MMSCRATCH_DEBUG=1``) shows the traceback of a user error too.

Tools build their parsers with :class:`ToolParser` (argparse's errors become
the same one line) and take ``--cfg-options`` with :class:`CfgOptionsAction`
(MMEngine's ``DictAction``, refusing an item that is not ``KEY=VALUE``).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from mmengine.config import DictAction


class UsageError(ValueError):
    """The command line itself is wrong (an argparse error)."""


class ToolFailure(ValueError):
    """A tool could not do what was asked (its message says why and what to do)."""


class ToolParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are :class:`UsageError`s."""

    def error(self, message: str):  # noqa: D102 (argparse's hook)
        raise UsageError(f'{message} (see {self.prog} --help)')


class CfgOptionsAction(DictAction):
    """MMEngine's ``DictAction`` for ``--cfg-options``, naming a malformed item."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            key = item.split('=', 1)[0]
            if '=' not in item or not key or key != key.strip():
                raise argparse.ArgumentError(
                    self, f'{item!r} is not KEY=VALUE (e.g. train_cfg.val_interval=5000)')
        try:
            super().__call__(parser, namespace, values, option_string)
        except (ValueError, SyntaxError, IndexError) as exc:
            raise argparse.ArgumentError(self, f'cannot parse {values}: {exc}') from None


def user_errors() -> tuple:
    from ..checkpoint import CheckpointRefused
    from ..datasets.robust_loading import TooManyBadImages
    from ..engine.hooks import CheckpointSaveError, DivergenceError, ScratchGuardError
    from ..utils.rank_health import CollectiveFailure
    from ..utils.work_dir_lock import WorkDirInUse
    # tools/train.py's NothingToResume is a FileNotFoundError
    return (FileNotFoundError, FileExistsError, NotADirectoryError,
            IsADirectoryError, PermissionError, ValueError, TooManyBadImages, DivergenceError,
            ScratchGuardError, WorkDirInUse, CheckpointRefused, CheckpointSaveError,
            CollectiveFailure)


def _debug_requested() -> bool:
    if '--debug' in sys.argv[1:]:
        sys.argv.remove('--debug')
        return True
    return os.environ.get('MMSCRATCH_DEBUG', '') not in ('', '0')


def run_cli(main: Callable) -> None:
    """Call ``main()`` and exit with its code (an int it returns, else 0); a user
    error becomes ``error: ...`` on stderr and exit status 1; a pre-emption
    (``Preempted``) exits with its code, 75 when the run saved its iteration."""
    from ..engine.hooks.preemption_hook import Preempted
    debug = _debug_requested()
    try:
        code = main()
    except Preempted as exc:  # a pre-emption signal: saved (75) or not (128+N), logged
        sys.exit(exc.exit_code)
    except user_errors() as exc:
        if debug:
            raise
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and exc.filename not in message:
            message = f'{exc.filename}: {message}'
        print(f'error: {message}', file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)
