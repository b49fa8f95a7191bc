"""Evaluate a checkpoint: see ``mmscratch.apis.test`` for the flags."""
import sys

from mmscratch.apis.test import main

if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as exc:
        sys.exit(f'error: {exc}')
