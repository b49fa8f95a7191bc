"""Nested random subsets of a COCO-format annotation file (the paper's 1k..35k).

    python tools/make_subset.py data/coco/annotations/instances_train2017.json \\
        --images 1000 3500 10000 35000 --seed 0 \\
        --out data/coco/annotations/instances_train2017_{size}.json

``{size}`` in ``--out`` becomes the size tag (1k, 3.5k, 10k, 35k): required
when several sizes are given. The same seed gives nested subsets (1k inside
3.5k inside ...). Prints per-category image and instance counts of each subset.
See mmscratch/datasets/subsets.py for the rule.
"""

from mmscratch.apis.cli import ToolFailure, ToolParser, run_cli
from mmscratch.datasets.subsets import (format_stats, load_annotations, make_subset,
                                        parse_size, size_tag, subset_order,
                                        write_annotations)


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file', help='COCO-format annotation JSON (the full training set)')
    parser.add_argument('--images', nargs='+', required=True, type=parse_size,
                        help='subset size(s), e.g. 1000 3500 or 1k 3.5k')
    parser.add_argument('--seed', type=int, default=0, help='permutation seed (default 0)')
    parser.add_argument('--out', required=True,
                        help='output JSON; may contain {size} (required for several sizes)')
    parser.add_argument('--keep-empty', action='store_true',
                        help='also sample images without annotations (dropped by '
                        'filter_empty_gt in training, so off by default)')
    args = parser.parse_args(argv)
    if len(args.images) > 1 and '{size}' not in args.out:
        parser.error('several --images sizes need {size} in --out')

    coco = load_annotations(args.ann_file)
    order = subset_order(coco, seed=args.seed, keep_empty=args.keep_empty)
    for n in sorted(args.images):
        out = args.out.replace('{size}', size_tag(n))
        try:
            subset = make_subset(coco, n, seed=args.seed, keep_empty=args.keep_empty,
                                 order=order, source=args.ann_file)
        except ValueError as exc:
            raise ToolFailure(str(exc)) from None
        write_annotations(out, subset)
        print(f'## {size_tag(n)} subset (seed {args.seed}) -> {out}')
        print(format_stats(subset))
        print()


if __name__ == '__main__':
    run_cli(main)
