"""Evaluate a checkpoint: see ``mmscratch.apis.test`` for the flags."""
from mmscratch.apis.cli import run_cli
from mmscratch.apis.test import main

if __name__ == '__main__':
    run_cli(main)
