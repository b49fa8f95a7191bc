"""``tools/benchmark.py``: the command line of the benchmarks (kept here so it can be imported
and tested); see ``docs/performance.md`` for usage and measured figures."""
from __future__ import annotations

import contextlib
import json
import sys
from typing import List, Optional


from ..benchmark.common import alternate
from ..benchmark.synthetic import COCO_IMAGE_SIZE, COCO_INSTANCES_PER_IMAGE
from ..utils.atomic_io import atomic_write_text
from .cli import CfgOptionsAction, ToolParser


def build_parser() -> ToolParser:
    p = ToolParser(
        description='Benchmark training throughput (or the data pipeline alone) of '
                    'an MMDetection config; JSON on stdout.')
    p.add_argument('config', help='config path, mmscratch::REL or mmdet::REL')
    p.add_argument('--vs', metavar='OTHER_CONFIG',
                   help='second config, run alternately in this process; prints both '
                        'results and the ratio of images/s (CONFIG over OTHER_CONFIG)')
    p.add_argument('--data-only', action='store_true',
                   help='time the training data pipeline only (one worker, one core)')
    p.add_argument('--input', choices=('synthetic', 'real'), default='synthetic',
                   help="synthetic COCO-sized inputs (default) or the config's dataset")
    p.add_argument('--image-size', type=int, nargs=2, metavar=('W', 'H'),
                   default=list(COCO_IMAGE_SIZE), help='synthetic image size (1333 800)')
    p.add_argument('--num-instances', type=int, default=COCO_INSTANCES_PER_IMAGE,
                   help='synthetic instances per image (7, as COCO)')
    p.add_argument('--batch-size', type=int,
                   help="images per iteration (train; default: the config's for real "
                        'input, 2 for synthetic)')
    p.add_argument('--warmup', type=int, default=3, help='warm-up iterations (not timed)')
    p.add_argument('--iters', type=int, default=10, help='measured iterations per config')
    p.add_argument('--block-iters', type=int, default=1,
                   help='with --vs: iterations of one config before switching to the other')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision')
    p.add_argument('--amp-dtype', choices=('bfloat16', 'float16'), default='bfloat16')
    p.add_argument('--cudnn-benchmark', action='store_true',
                   help='torch.backends.cudnn.benchmark=True (CUDA)')
    p.add_argument('--channels-last', action='store_true', help='NHWC model and inputs')
    p.add_argument('--compile-backbone', action='store_true',
                   help='torch.compile the backbone and the neck (fixed input shapes; '
                        'turns the stage timers off)')
    p.add_argument('--fast-cpu-ops', action='store_true',
                   help="mmscratch's RoIAlign and RPN NMS instead of MMCV's CPU kernels "
                        '(what FastCPUOpsHook does)')
    p.add_argument('--mask-type', choices=('auto', 'bitmap', 'polygon'), default='auto',
                   help="synthetic gt masks; auto follows the pipeline's poly2mask")
    p.add_argument('--scale-down', action='store_true',
                   help='divide every channel width by --scale-factor (quick CPU runs)')
    p.add_argument('--scale-factor', type=int, default=8)
    p.add_argument('--no-stages', action='store_true',
                   help='no per-stage timers (no extra CUDA synchronizations)')
    p.add_argument('--num-workers', type=int, help='real input: dataloader workers')
    p.add_argument('--data-dir',
                   help='--data-only: where generated images are cached (default: a '
                        'temporary directory)')
    p.add_argument('--num-images', type=int, default=16,
                   help='--data-only: generated images (cycled through)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override config keys (applied to both configs)')
    p.add_argument('--vs-cfg-options', nargs='+', action=CfgOptionsAction,
                   help='further overrides for the --vs config only (to time one '
                        'lever: the same config with and without it)')
    p.add_argument('--vs-bench-options', nargs='+', metavar='KEY=VALUE', default=[],
                   help='benchmark options for the --vs config only, e.g. '
                        'channels_last=False cudnn_benchmark=True batch_size=8 '
                        'compile_backbone=False (names as in TrainBenchOptions)')
    p.add_argument('--out', help='also write the JSON to this file')
    return p


def parse_bench_options(items: List[str]) -> dict:
    """``['channels_last=False', 'batch_size=8']`` -> a TrainBenchOptions override."""
    import ast
    import dataclasses

    from ..benchmark.train_bench import TrainBenchOptions
    fields = {f.name for f in dataclasses.fields(TrainBenchOptions)}
    out = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or key not in fields:
            raise ValueError(f'--vs-bench-options: {item!r} is not KEY=VALUE with KEY one of '
                             f'{sorted(fields)}')
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value  # a bare word: 'float16', 'cuda'
    return out


def _make_bench(config: str, args, extra_options=None, bench_options=None):
    cfg_options = dict(args.cfg_options or {}, **(extra_options or {})) or None
    if args.data_only:
        from ..benchmark.data_bench import DataBench
        return DataBench(config, data_dir=args.data_dir, num_images=args.num_images,
                         image_size=tuple(args.image_size),
                         num_instances=args.num_instances, input=args.input,
                         cfg_options=cfg_options, seed=args.seed)
    from ..benchmark.train_bench import TrainBench, TrainBenchOptions
    opts = TrainBenchOptions(
        device=args.device, input=args.input, image_size=tuple(args.image_size),
        batch_size=args.batch_size, num_instances=args.num_instances,
        mask_type=args.mask_type, amp=args.amp, amp_dtype=args.amp_dtype,
        cudnn_benchmark=args.cudnn_benchmark, channels_last=args.channels_last,
        compile_backbone=args.compile_backbone,
        fast_cpu_ops=args.fast_cpu_ops, scale_down=args.scale_down,
        scale_factor=args.scale_factor,
        stages=not args.no_stages, num_workers=args.num_workers,
        cfg_options=cfg_options, seed=args.seed)
    if bench_options:
        import dataclasses
        opts = dataclasses.replace(opts, **bench_options)
    return TrainBench(config, opts)


def _summary_line(res: dict) -> str:
    stages = ', '.join(f'{k} {v * 1e3:.1f}' for k, v in res['stages_s'].items())
    return (f"{res['config']}: {res['images_per_s']:.2f} img/s, "
            f"{res['s_per_iter']['mean'] * 1e3:.1f} ms/iter (data "
            f"{res['data_time_s'] * 1e3:.1f}), peak {res['peak_mem_mb']} MB; ms: {stages}")


def check_inputs(args) -> None:
    """Bad input is one clear error before anything is built: counts, the configs
    (missing, unparsable) and, for ``--input real``, their data."""
    from ..datasets.config_check import find_missing_dataset_files
    from ..utils.config_loading import load_config

    if args.iters < 1 or args.warmup < 0 or args.block_iters < 1:
        raise ValueError('--iters and --block-iters must be >= 1, --warmup >= 0')
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError('--batch-size must be >= 1')
    configs = [(args.config, args.cfg_options)]
    if args.vs:
        configs.append((args.vs, dict(args.cfg_options or {}, **(args.vs_cfg_options or {}))))
    for path, options in configs:
        cfg = load_config(path, options or None)
        if args.input == 'real' or (args.data_only and args.input == 'real'):
            problems = find_missing_dataset_files(cfg, ('train_dataloader',), evaluator=False)
            if problems:
                raise ValueError(f'{path}: --input real needs its data: ' + '; '.join(problems))


def run(args) -> dict:
    """Run what ``args`` asks; returns the JSON-ready result."""
    check_inputs(args)
    vs_bench_options = parse_bench_options(args.vs_bench_options)
    if vs_bench_options and (args.data_only or not args.vs):
        raise ValueError('--vs-bench-options needs --vs and a train benchmark')
    benches = [_make_bench(args.config, args)]
    if args.vs:
        benches.append(_make_bench(args.vs, args, args.vs_cfg_options, vs_bench_options))
    alternate(benches, args.warmup, args.iters, args.block_iters)
    results = [b.result(args.warmup) for b in benches]
    if len(results) == 1:
        return results[0]
    a, b = results
    return dict(mode=a['mode'], a=a, b=b,
                ratio=a['images_per_s'] / b['images_per_s'],
                ratio_definition='images_per_s of a (CONFIG) / images_per_s of b (--vs)',
                alternation=dict(block_iters=args.block_iters, blocks=-(-args.iters //
                                                                        args.block_iters)))


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # pycocotools and some transforms print progress to stdout; keep stdout
    # for the JSON alone so that `tools/benchmark.py ... > result.json` works
    with contextlib.redirect_stdout(sys.stderr):
        out = run(args)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + '\n')
    # human-readable digest on stderr, so stdout stays one JSON document
    for res in ([out['a'], out['b']] if 'ratio' in out else [out]):
        print(_summary_line(res), file=sys.stderr)
    if 'ratio' in out:
        print(f"ratio (a/b images/s): {out['ratio']:.3f}", file=sys.stderr)
    return 0
