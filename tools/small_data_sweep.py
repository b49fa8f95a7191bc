"""Scratch vs pretrained at several training-set sizes: the paper's small-data table.

    python tools/small_data_sweep.py \\
        --config-scratch configs/small_data/mask_rcnn_r50_gn_{size}_scratch.py \\
        --config-pretrained configs/small_data/mask_rcnn_r50_gn_{size}_pretrained.py \\
        --ann-file data/coco/annotations/instances_train2017.json \\
        --sizes 1000 3500 10000 35000 --work-root work_dirs/small_data

makes nested subsets of ``--ann-file``, trains both arms at each size (a run
already complete is skipped, so the same command resumes a sweep), and
writes ``sweep.md``/``sweep.csv`` and ``sweep.png`` (AP vs size, log x) in
``--work-root``. ``{size}`` in a config path becomes the size tag (1k, 3.5k,
...); without it the same config is used for every size. See
mmscratch/apis/small_data_sweep.py and docs/small_data.md.
"""

from mmscratch.apis.small_data_sweep import run_sweep
from mmscratch.datasets.subsets import parse_size
from mmscratch.apis.cli import ToolFailure, ToolParser, run_cli


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config-scratch', required=True, help='scratch config ({size} allowed)')
    parser.add_argument('--config-pretrained', required=True,
                        help='pretrained config ({size} allowed)')
    parser.add_argument('--ann-file', required=True,
                        help='full training annotations (COCO format) to subsample')
    parser.add_argument('--sizes', nargs='+', type=parse_size, required=True,
                        help='training-set sizes, e.g. 1000 3500 10000 35000 (or 1k 3.5k ...)')
    parser.add_argument('--work-root', required=True, help='where subsets, runs and reports go')
    parser.add_argument('--seed', type=int, default=0, help='subset seed (default 0)')
    parser.add_argument('--keep-empty', action='store_true',
                        help='let subsets include images without annotations')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config overrides for both arms (MMEngine syntax)')
    parser.add_argument('--cfg-options-scratch', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for the scratch arm only')
    parser.add_argument('--cfg-options-pretrained', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for the pretrained arm only, e.g. load_from=CKPT')
    parser.add_argument('--in-process', action='store_true',
                        help='train in this process instead of one process per run')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the training commands, train nothing')
    args = parser.parse_args(argv)
    try:
        return run_sweep(args.config_scratch, args.config_pretrained, args.ann_file, args.sizes,
                         args.work_root, seed=args.seed, cfg_options=args.cfg_options,
                         cfg_options_scratch=args.cfg_options_scratch,
                         cfg_options_pretrained=args.cfg_options_pretrained,
                         keep_empty=args.keep_empty, in_process=args.in_process,
                         dry_run=args.dry_run)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise ToolFailure(str(exc)) from None


if __name__ == '__main__':
    run_cli(main)
