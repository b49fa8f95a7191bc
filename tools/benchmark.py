"""Benchmark a config's training throughput or its data pipeline.

Examples (see docs/performance.md)::

    python tools/benchmark.py configs/scratch/mask_rcnn_r50_gn_6x.py --scale-down \
        --vs mmdet::scratch/mask-rcnn_r50-scratch_fpn_gn-all_6x_coco.py
    python tools/benchmark.py --data-only configs/_base_/datasets/coco_instance_fast.py \
        --vs mmdet::_base_/datasets/coco_instance.py
"""

from mmscratch.apis.benchmark import main
from mmscratch.apis.cli import run_cli

if __name__ == '__main__':
    run_cli(main)
