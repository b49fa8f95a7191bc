"""Generate the shapes dataset, train from scratch, evaluate and plot (``make demo``)."""
import sys

from mmscratch.apis.demo import main
from mmscratch.apis.train import NothingToResume
from mmscratch.datasets.robust_loading import TooManyBadImages
from mmscratch.engine.hooks import DivergenceError, ScratchGuardError

if __name__ == '__main__':
    try:
        main()
    except (NothingToResume, FileNotFoundError, ValueError, TooManyBadImages,
            DivergenceError, ScratchGuardError) as exc:
        sys.exit(f'error: {exc}')
