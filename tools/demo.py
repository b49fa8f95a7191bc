"""Generate the shapes dataset, train from scratch, evaluate and plot (``make demo``)."""
import sys

from mmscratch.apis.demo import main
from mmscratch.apis.train import NothingToResume

if __name__ == '__main__':
    try:
        main()
    except (NothingToResume, FileNotFoundError, ValueError) as exc:
        sys.exit(f'error: {exc}')
