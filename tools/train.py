"""Train a detector from scratch: see ``mmscratch.apis.train`` for the flags."""
import sys

from mmscratch.apis.train import NothingToResume, main
from mmscratch.datasets.robust_loading import TooManyBadImages
from mmscratch.engine.hooks import DivergenceError, ScratchGuardError

if __name__ == '__main__':
    try:
        main()
    except (NothingToResume, FileNotFoundError, ValueError, TooManyBadImages,
            DivergenceError, ScratchGuardError) as exc:
        sys.exit(f'error: {exc}')
