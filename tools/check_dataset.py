"""Check a COCO-format dataset before training: ``ANN_JSON IMG_DIR [--strict]``.

Lists every problem with its image/annotation id, then a summary table; see
``mmscratch.datasets.check`` for what is checked. Exit code 0: no errors,
1: problems found, 2: the annotation file is unusable.
"""
import sys

from mmscratch.datasets.check import main

if __name__ == '__main__':
    sys.exit(main())
