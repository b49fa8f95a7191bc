"""How the command-line tools end on a user error: one ``error:`` line, exit 1.

A missing file, a config that cannot train, a run that is not from scratch,
too many bad images or repeated divergence are the user's to fix; a stack
trace from deep inside MMEngine would hide the message. Anything else is a
bug and keeps its traceback.
"""
import sys
from typing import Callable


def user_errors() -> tuple:
    from ..datasets.robust_loading import TooManyBadImages
    from ..engine.hooks import DivergenceError, ScratchGuardError
    from ..utils.work_dir_lock import WorkDirInUse
    from .train import NothingToResume
    return (NothingToResume, FileNotFoundError, FileExistsError, ValueError, TooManyBadImages,
            DivergenceError, ScratchGuardError, WorkDirInUse)


def run_cli(main: Callable) -> None:
    """Call ``main()``; turn a user error into ``error: ...`` and exit status 1."""
    try:
        main()
    except user_errors() as exc:
        sys.exit(f'error: {exc}')
