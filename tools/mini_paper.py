"""The paper's experiment in miniature on a CPU: pre-training vs from scratch, real runs.

    python tools/mini_paper.py                 # the full plan (about 2 hours on 2 cores)
    python tools/mini_paper.py --resume        # after an interruption
    python tools/mini_paper.py --toy --work-root /tmp/mp --data-root /tmp/mp/shapes \\
        --pretrain-data-root /tmp/mp/pretrain_cls   # every stage a few iterations

Generates the shapes set and a 100-class pre-training set, pre-trains the demo
backbone as a classifier, trains the demo from scratch and its pretrained twin
at 1/4, 1/2, 1 and 2 x the demo schedule (the 1x pair with two seeds) and on
nested subsets of the training set (1/2x), and writes figure1.png, compare.md,
small_data/sweep.md, data_budget.md and summary.md/.json in --work-root.
Completed runs are skipped. See mmscratch/apis/mini_paper.py and
docs/mini_paper.md.
"""
from mmscratch.apis.cli import run_cli
from mmscratch.apis.mini_paper import main

if __name__ == '__main__':
    run_cli(main)
