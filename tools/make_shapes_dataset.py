"""Generate the synthetic shapes dataset (COCO format) used by mmscratch.

Example::

    python tools/make_shapes_dataset.py --out data/shapes

Does nothing when ``--out`` already holds a complete dataset, unless
``--force`` is given. The generation itself lives in
:mod:`mmscratch.datasets.shapes`.
"""
import argparse
import sys
import time

from mmscratch.apis.cli import ToolParser, run_cli
from mmscratch.utils.progress import wants_progress
from mmscratch.datasets.shapes import (dataset_is_complete,
                                       generate_shapes_dataset,
                                       read_dataset_params,
                                       validate_generation_args)


def parse_args(argv=None) -> argparse.Namespace:
    parser = ToolParser(
        description='Generate the synthetic shapes instance-segmentation '
        'dataset in COCO format.')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num-train', type=int, default=600,
                        help='number of training images')
    parser.add_argument('--num-val', type=int, default=100,
                        help='number of validation images')
    parser.add_argument('--image-size', type=int, default=128,
                        help='side of the square images in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--min-instances', type=int, default=1,
                        help='fewest shapes per image')
    parser.add_argument('--max-instances', type=int, default=6,
                        help='most shapes per image')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the dataset is complete')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    requested = dict(
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.image_size,
        seed=args.seed,
        min_instances=args.min_instances,
        max_instances=args.max_instances)
    try:
        validate_generation_args(**requested)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2

    if not args.force and dataset_is_complete(args.out):
        print(f'Shapes dataset at {args.out} is already complete; '
              'nothing to do (pass --force to regenerate).')
        existing = read_dataset_params(args.out)
        if existing != requested:
            print(f'warning: it was generated with {existing}, '
                  f'not the requested {requested}; kept as is.')
        return 0

    start = time.perf_counter()
    summary = generate_shapes_dataset(args.out, **requested,
                                      progress=wants_progress(args.quiet))
    elapsed = time.perf_counter() - start
    print(f'Generated shapes dataset at {summary["out_dir"]} '
          f'in {elapsed:.1f}s')
    for split, info in summary['splits'].items():
        per_class = ', '.join(f'{name}={count}' for name, count in
                              info['instances_per_class'].items())
        print(f'  {split}: {info["num_images"]} images, '
              f'{info["num_instances"]} instances ({per_class}); '
              f'annotations: {info["ann_file"]}')
    return 0


if __name__ == '__main__':
    run_cli(main)
