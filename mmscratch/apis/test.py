"""``tools/test.py``: evaluate a checkpoint, with MMDetection's flags.

Differences from MMDetection's ``tools/test.py``, each on purpose:

* the model is built as the checkpoint was trained: a checkpoint of a
  ``tools/train.py --scratchify`` run records the recipe, and it is applied to
  the config given (``--scratchify`` sets it explicitly);
* weights that do not fit the model are an error naming the keys
  (``CheckpointMatchHook``), not an AP of a half-random model;
  ``--allow-partial-load`` evaluates anyway;
* checkpoints are read as data (``mmscratch.checkpoint``);
* ``--tta`` refuses what would print a wrong AP: a mask model in MMDetection's
  box-only ``DetTTAModel``, flips the merge could not undo
  (``mmscratch.apis.tta``); ``DetMaskTTAModel`` merges masks too.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log

from .cli import CfgOptionsAction, ToolParser
from ..checkpoint import load_checkpoint_file, older_checkpoints_readable
from ..recipe.scratchify import (APPLIED_KEY, loop_schedule, norm_cfgs,
                                 parse_scratchify_flag, scratchify, scratchify_again)
from ..engine.hooks.checkpoint_match_hook import recorded_scratchify
from ..engine.hooks.run_info_hook import RECIPE_KEY
from ..utils.dist import needs_cpu_process_group, shutdown_cpu_process_group
from ..utils.config_loading import load_config, merge_cfg_options
from .train import (build_runner, default_work_dir, ensure_hooks,
                    refuse_links_at_config_dump, set_launcher)
from .tta import enable_tta

TEST_HOOKS = {'CheckpointMatchHook': 'weights that do not fit the model are an error'}


def build_parser() -> ToolParser:
    parser = ToolParser(description='Test (and evaluate) a model.')
    parser.add_argument('config', help='config file path, or mmscratch::REL')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation results')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument(
        '--scratchify', nargs='?', const='GN:6x', metavar='NORM:SCHEDULE',
        help='build the model with the from-scratch recipe (as tools/train.py '
        '--scratchify); by default the recipe a checkpoint recorded is applied')
    parser.add_argument(
        '--allow-partial-load', action='store_true',
        help='evaluate even if some weights do not fit the model (only warn)')
    parser.add_argument(
        '--tta', action='store_true',
        help="test-time augmentation: the config's tta_model wraps its model and its "
        'tta_pipeline replaces the test pipeline (defaults: DetMaskTTAModel, flip only)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override settings in the config, key=value (MMEngine syntax)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def apply_recipe(cfg: Config, checkpoint: str, flag: Optional[str]) -> Config:
    """The config whose model the checkpoint was trained with.

    ``--scratchify`` wins; else the recipe the checkpoint recorded is applied
    to the config it was applied to in training (same file name) when that
    config does not have it yet; else the config as given (and weights that do
    not fit it are reported by ``CheckpointMatchHook``).
    """
    if flag is not None:
        return scratchify(cfg, *parse_scratchify_flag(flag))
    if cfg.get(APPLIED_KEY):
        return cfg
    record = load_checkpoint_file(checkpoint, 'cpu', mmap=True)
    recorded = recorded_scratchify(record)
    trained_on = record['meta'][RECIPE_KEY].get('config_name') if recorded else None
    given = osp.splitext(osp.basename(cfg.filename or ''))[0]
    if recorded is None or trained_on != given:
        return cfg
    problem = recipe_record_problem(recorded)
    if problem is not None:
        print_log(f'{checkpoint}: ignored the recipe it records ({problem}): only what '
                  '--scratchify can produce is applied from a file; pass --scratchify '
                  'NORM:SCHEDULE to set it', logger='current', level=logging.WARNING)
        return cfg
    print_log(f'{checkpoint} was trained with --scratchify {recorded["spec"]}: building the '
              'model with that recipe', logger='current', level=logging.WARNING)
    return scratchify_again(cfg, recorded)


def _plain_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def recipe_record_problem(recorded: dict) -> Optional[str]:
    """Why a checkpoint's recorded recipe is not one ``--scratchify`` could have made
    (None if it is).

    The record is data from a file: its norm becomes every norm layer's
    ``norm_cfg``, whose ``type`` MMEngine's registry resolves -- a dotted name
    is *imported* (``get_object_from_string``) and the class built with the
    record's arguments. So only GN (``num_groups``) and SyncBN exactly as
    :func:`parse_norm` writes them, and a schedule of numbers that
    :func:`loop_schedule` accepts, are applied.
    """
    norm, schedule = recorded.get('norm'), recorded.get('schedule')
    known = norm_cfgs()
    gn = known['gn']
    norm_ok = isinstance(norm, dict) and (
        dict(norm) == known['syncbn']
        or (set(norm) == set(gn) and norm.get('type') == gn['type']
            and norm.get('requires_grad') is True and type(norm.get('num_groups')) is int
            and 0 < norm['num_groups'] <= 4096))
    if not norm_ok:
        return f'norm {norm!r:.80} is not GN or SyncBN'
    if not (isinstance(schedule, dict) and all(
            isinstance(k, str) and (v is None or _plain_number(v) or (
                isinstance(v, (list, tuple)) and all(_plain_number(x) for x in v)))
            for k, v in schedule.items())):
        return f'schedule {schedule!r:.80} is not a dict of numbers'
    try:
        loop_schedule(dict(schedule))
    except Exception as exc:  # noqa: BLE001  (any failure of data from a file: not applied)
        return f'schedule {schedule!r:.80}: {exc}'
    for key in ('base_batch_size', 'val_interval'):
        value = recorded.get(key, 1)
        if type(value) is not int or value <= 0:
            return f'{key} {value!r:.40} is not a positive int'
    return None


@older_checkpoints_readable()
def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg = apply_recipe(load_config(args.config), args.checkpoint, args.scratchify)
    if args.cfg_options:
        merge_cfg_options(cfg, args.cfg_options)
    if args.tta:
        enable_tta(cfg)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    ensure_hooks(cfg, TEST_HOOKS, dict(CheckpointMatchHook=dict(allow_partial=True))
                 if args.allow_partial_load else None)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl file')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpDetResults', out_file_path=args.out))
    set_launcher(cfg, args.launcher)
    refuse_links_at_config_dump(cfg)
    runner = build_runner(cfg)
    metrics = runner.test()
    if needs_cpu_process_group(args.launcher):
        shutdown_cpu_process_group()
    return metrics
