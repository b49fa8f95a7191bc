"""Train a detector from scratch: see ``mmscratch.apis.train`` for the flags."""
from mmscratch.apis.cli import run_cli
from mmscratch.apis.train import main

if __name__ == '__main__':
    run_cli(main)
