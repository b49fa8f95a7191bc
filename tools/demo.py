"""Generate the shapes dataset, train from scratch, evaluate and plot (``make demo``)."""
from mmscratch.apis.cli import run_cli
from mmscratch.apis.demo import main

if __name__ == '__main__':
    run_cli(main)
