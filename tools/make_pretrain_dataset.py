"""Generate the mini paper's pre-training set: a 100-class image-classification set.

Example::

    python tools/make_pretrain_dataset.py --out data/pretrain_cls --num-train 20000 \\
        --image-size 64

Does nothing when ``--out`` already holds a complete set made with the same
arguments; a complete set made with other arguments is an error (``--force``
regenerates). The generation lives in :mod:`mmscratch.datasets.pretrain_set`.
"""
import time

from mmscratch.apis.cli import ToolFailure, ToolParser, run_cli
from mmscratch.datasets.pretrain_set import (PRETRAIN_CLASSES, generate_pretrain_dataset,
                                             pretrain_set_is_complete, read_pretrain_params,
                                             validate_pretrain_args)
from mmscratch.utils.progress import wants_progress


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num-train', type=int, default=20_000, help='training images')
    parser.add_argument('--num-val', type=int, default=1_000, help='validation images')
    parser.add_argument('--image-size', type=int, default=64, help='side of the images (px)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--force', action='store_true', help='regenerate a complete set')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    wanted = dict(num_train=args.num_train, num_val=args.num_val, image_size=args.image_size,
                  seed=args.seed)
    validate_pretrain_args(**wanted)
    if not args.force and pretrain_set_is_complete(args.out):
        found = read_pretrain_params(args.out)
        if found != wanted:
            raise ToolFailure(f'{args.out} holds a set made with {found}, not {wanted}; '
                              'pass --force to regenerate it or choose another --out')
        print(f'{args.out}: complete, nothing to do (--force regenerates)')
        return 0
    start = time.perf_counter()
    summary = generate_pretrain_dataset(args.out, **wanted,
                                        progress=wants_progress(args.quiet))
    print(f'Generated {len(PRETRAIN_CLASSES)}-class pre-training set at {summary["out_dir"]} '
          f'in {time.perf_counter() - start:.1f}s')
    for split, info in summary['splits'].items():
        print(f'  {split}: {info["num_images"]} images; annotations: {info["ann_file"]}')
    return 0


if __name__ == '__main__':
    run_cli(main)
