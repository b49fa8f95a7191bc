"""The paper's Figure 1 for any set of runs: AP against iterations (or images seen).

    python tools/plot_curves.py work_dirs/mask_rcnn_r50_gn_6x work_dirs/pretrained_6x \
        --x iter --metrics bbox segm --out figure1.png

One line per run and metric (box solid, mask dashed), dotted LR-drop markers,
legend from the runs' config names. Writes FILE.png, FILE.svg and FILE.json
(the plotted numbers). Reads each run's curve.jsonl (ConvergenceCurveHook).
"""
import os.path as osp

from mmscratch.utils.run_files import read_curve
from mmscratch.visualization.curves import plot_curves, run_label
from mmscratch.apis.cli import ToolFailure, ToolParser, run_cli

METRIC_ALIASES = {'bbox': 'bbox_mAP', 'segm': 'segm_mAP', 'box': 'bbox_mAP', 'mask': 'segm_mAP'}


def collect_runs(run_dirs):
    """Label -> records; a label used twice (two seeds of a config) gets its dir name."""
    labels = [run_label(d) for d in run_dirs]
    runs = {}
    for run_dir, label in zip(run_dirs, labels):
        if labels.count(label) > 1:
            label = f'{label} [{osp.basename(osp.normpath(run_dir))}]'
        runs[label] = read_curve(run_dir)
    return runs


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('run_dirs', nargs='+', metavar='RUN_DIR', help='work dirs with curve.jsonl')
    parser.add_argument('--x', choices=['iter', 'images'], default='iter',
                        help='x axis: iterations (default) or images seen')
    parser.add_argument('--metrics', nargs='+', default=['bbox', 'segm'],
                        help='bbox, segm, or record keys such as bbox_mAP_50')
    parser.add_argument('--out', default='curves.png', help='output image (default curves.png)')
    parser.add_argument('--title', default=None, help='figure title')
    args = parser.parse_args(argv)
    metrics = [METRIC_ALIASES.get(m, m) for m in args.metrics]
    try:
        runs = collect_runs(args.run_dirs)
        stem = osp.splitext(args.out)[0]
        plot = plot_curves(runs, args.out, x=args.x, metrics=metrics, title=args.title,
                           data_path=stem + '.json')
    except (FileNotFoundError, ValueError) as exc:
        raise ToolFailure(str(exc)) from None
    for label in plot.labels():
        points = [len(s['x']) for s in plot.series if s['label'] == label]
        print(f'{label}: {"+".join(map(str, points))} points, '
              f'LR drops at {plot.lr_markers.get(label) or "-"}')
    print('wrote ' + ', '.join(plot.files))
    return plot


if __name__ == '__main__':
    run_cli(main)
