"""``tools/benchmark_ops.py``: mmscratch's CPU RoIAlign and RPN NMS against MMCV's
kernels over feature-map sizes and box counts (JSON on stdout and in ``--out``);
the rows are :mod:`mmscratch.benchmark.op_bench`'s."""
from __future__ import annotations

import json
from typing import Optional, Sequence

import torch

from .cli import ToolParser
from ..benchmark.op_bench import run
from ..utils.atomic_io import atomic_write_text


def build_parser() -> ToolParser:
    parser = ToolParser(description=__doc__.splitlines()[0].strip('`: '))
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(),
                        help="torch threads (default: torch's own)")
    parser.add_argument('--sides', type=int, nargs='+', default=[16, 32, 48, 64, 96],
                        help='square feature-map sides for RoIAlign')
    parser.add_argument('--nms-boxes', type=int, nargs='+', default=[2000, 5000],
                        help='candidate boxes per image for the RPN NMS')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', help='also write the JSON here')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    result = run(args.threads, args.sides, args.nms_boxes, args.repeats)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + '\n')
    return result
