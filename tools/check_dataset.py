"""Check a COCO-format dataset before training: ``ANN_JSON IMG_DIR [--strict]``.

Lists every problem with its image/annotation id, then a summary table; see
``mmscratch.datasets.check`` for what is checked. Exit code 0: no errors,
1: problems found, 2: the annotation file or the image folder is unusable
(one ``error:`` line).
"""
import json
import os
import sys

from mmscratch.apis.cli import ToolParser, run_cli
from mmscratch.datasets.check import check_coco_dataset
from mmscratch.utils.progress import wants_progress


def build_parser() -> ToolParser:
    parser = ToolParser(
        description='Check a COCO-format dataset (annotations and image files) '
        'and list every problem with its image/annotation id.')
    parser.add_argument('ann_file', help='annotation JSON, e.g. annotations/instances_train.json')
    parser.add_argument('img_dir', help="folder the images' file_name are relative to")
    parser.add_argument('--skip-images', action='store_true',
                        help='check the JSON only, do not open the images')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='processes decoding images (0: none)')
    parser.add_argument('--tolerance', type=float, default=1.0,
                        help='pixels a box/polygon may reach outside its image')
    parser.add_argument('--strict', action='store_true', help='warnings fail too (exit 1)')
    parser.add_argument('--max-print', type=int, default=None,
                        help='print at most this many problems (default: all)')
    parser.add_argument('--json', dest='json_out', help='also write the report as JSON here')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    report = check_coco_dataset(args.ann_file, args.img_dir,
                                check_images=not args.skip_images,
                                workers=max(0, args.workers), tolerance=args.tolerance,
                                progress=wants_progress(args.quiet))
    unusable = report.of_kind('json_invalid') + report.of_kind('image_dir_missing')
    if unusable:
        print(f'error: {unusable[0].message}', file=sys.stderr)
        return 2
    shown = report.problems if args.max_print is None else report.problems[:args.max_print]
    for problem in shown:
        print(problem)
    if len(shown) < len(report.problems):
        print(f'... {len(report.problems) - len(shown)} more (see --json or --max-print)')
    if report.problems:
        print()
    print(report.summary_table())
    if args.json_out:
        from mmscratch.utils.atomic_io import atomic_write_text
        atomic_write_text(args.json_out, json.dumps(report.to_dict(), indent=1))
    code = report.exit_code(strict=args.strict)
    if code == 0:
        print('OK: no errors' + ('' if report.warnings else ' or warnings'))
    else:
        print(f'FAILED (exit code {code})')
    return code


if __name__ == '__main__':
    run_cli(main)
