"""Train a detector from scratch: see ``mmscratch.apis.train`` for the flags."""
import sys

from mmscratch.apis.train import NothingToResume, main

if __name__ == '__main__':
    try:
        main()
    except (NothingToResume, FileNotFoundError, ValueError) as exc:
        sys.exit(f'error: {exc}')
