"""Accuracy check of a speed lever: short trainings with and without it, per seed.

    python tools/lever_check.py configs/demo/mask_rcnn_gn_shapes.py \\
        --lever optim_wrapper.type=BF16OptimWrapper --iters 300 --seeds 0 1 \\
        --work-root work_dirs/lever_bf16

Both arms train the same config for --iters iterations (its schedule shrunk
proportionally), the lever arm with the --lever options added, the baseline
with --baseline (default: none); --lever-config trains another config in the
lever arm (e.g. configs/demo/mask_rcnn_gn_shapes_fast.py, the demo with every
kept speed lever). Prints the Markdown table (losses over the
last --loss-window iterations, final bbox/segm AP, lever minus baseline, the
seed-noise verdict) and writes lever_check.json/.md under --work-root. Runs
that already finished are reused, so an interrupted check resumes.
"""
import json

from mmscratch.analysis.lever_check import to_markdown
from mmscratch.apis.lever_check import run_lever_check
from mmscratch.apis.cli import ToolFailure, ToolParser, run_cli


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--lever', nargs='+', default=[], metavar='KEY=VALUE',
                        help='--cfg-options of the lever arm')
    parser.add_argument('--lever-config',
                        help='train this config in the lever arm (default: CONFIG)')
    parser.add_argument('--baseline', nargs='+', default=[], metavar='KEY=VALUE',
                        help='--cfg-options of the baseline arm (default: the config as is)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='options of both arms')
    parser.add_argument('--iters', type=int, help='shrink the schedule to this many iterations')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--loss-window', type=int, default=100,
                        help='average the losses over the last N iterations')
    parser.add_argument('--work-root', required=True)
    parser.add_argument('--json', action='store_true', help='print the JSON report instead')
    args = parser.parse_args(argv)
    try:
        report = run_lever_check(args.config, args.work_root, args.lever, args.baseline,
                                 seeds=args.seeds, iters=args.iters, shared=args.cfg_options,
                                 loss_window=args.loss_window, lever_config=args.lever_config)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise ToolFailure(str(exc)) from None
    print(json.dumps(report, indent=2) if args.json else to_markdown(report))
    return report


if __name__ == '__main__':
    run_cli(main)
