"""The paper's tables from work dirs: scratch vs pretrained, per schedule, box and mask AP.

    python tools/compare_runs.py work_dirs/ --out-md compare.md --out-csv compare.csv

Each WORK_DIR is a run or a folder of runs (searched a few levels down).
Scratch/pretrained comes from run_info.json (written by RunInfoHook), the
schedule and the paper's reference number from the config name
(mask_rcnn_r50_gn_6x, ...); nothing in a work dir is executed. Prints the
Markdown; --best uses the best AP along each curve instead of the last.
"""

from mmscratch.analysis.compare import load_runs, to_markdown, write_csv
from mmscratch.apis.cli import ToolFailure, ToolParser, run_cli
from mmscratch.utils.atomic_io import atomic_write_text


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument('--out-md', help='write the Markdown here too')
    parser.add_argument('--out-csv', help='one row per run, paper numbers included')
    parser.add_argument('--best', action='store_true',
                        help='best AP along the curve (the small-data protocol), not the last')
    args = parser.parse_args(argv)
    try:
        results = load_runs(args.work_dirs)
    except FileNotFoundError as exc:
        raise ToolFailure(str(exc)) from None
    if not results:
        raise ToolFailure('no run found (a run dir has curve.jsonl or */vis_data/scalars.json)')
    markdown = to_markdown(results, best=args.best)
    print(markdown)
    if args.out_md:
        atomic_write_text(args.out_md, markdown)
    if args.out_csv:
        write_csv(results, args.out_csv)
    return results


if __name__ == '__main__':
    run_cli(main)
