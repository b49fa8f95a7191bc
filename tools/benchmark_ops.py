"""Time mmscratch's CPU RoIAlign and RPN NMS against MMCV's kernels (JSON).

Example (docs/performance.md)::

    python tools/benchmark_ops.py --out docs/perf/cpu_ops_vs_mmcv.json
"""

from mmscratch.apis.cli import run_cli
from mmscratch.apis.benchmark_ops import main

if __name__ == '__main__':
    run_cli(main)
