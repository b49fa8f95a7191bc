"""``tools/train.py``: MMDetection's train entry with mmscratch's guarantees.

Flags follow MMDetection's ``tools/train.py`` (``--work-dir``, ``--amp``,
``--auto-scale-lr``, ``--resume [auto|PATH]``, ``--cfg-options``,
``--launcher``). Differences, each on purpose:

* ``--resume`` with nothing to resume is an error, where MMEngine silently
  starts from iteration 0 (days lost on a requeued job that lost its work
  dir). ``--allow-fresh-start`` turns it into a loud warning for job
  scripts that always pass ``--resume``.
* ``--launcher pytorch|slurm`` also works on CPU-only machines (gloo).
* configs are found by path or as ``mmscratch::REL`` from the installed package.
* cluster faults end in a known way: a pre-emption signal saves the current
  iteration and exits 75 (``PreemptionHook``); a collective that fails or
  times out (``env_cfg.dist_cfg.timeout``, default 600 s) ends in one line
  naming the rank that stopped answering (``RankHeartbeatHook``,
  :mod:`mmscratch.utils.rank_health`).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import os.path as osp
import stat
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .cli import CfgOptionsAction, ToolParser
from ..checkpoint import older_checkpoints_readable
from ..engine.hooks.preemption_hook import Preempted
from ..utils.config_facts import type_name
from ..utils.dist import (launch_rank, needs_cpu_process_group, shutdown_cpu_process_group,
                          world_size_from_env)
from ..utils.rank_health import (CollectiveFailure, default_store, diagnose,
                                 is_collective_failure, post_failure)
from ..utils.run_files import read_regular_file
from ..utils.work_dir_lock import WorkDirLock
from ..utils.config_loading import load_config, merge_cfg_options
from .preflight import check_train_config


class NothingToResume(FileNotFoundError):
    """``--resume`` found no checkpoint to resume from."""


def default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def set_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher; on CPU-only machines start gloo DDP ourselves.

    The process-group timeout is ``env_cfg.dist_cfg.timeout`` for gloo here
    and for NCCL in MMEngine (:func:`~mmscratch.utils.dist.collective_timeout_s`).
    """
    from ..utils.dist import (collective_timeout_s, configure_cpu_ddp,
                              init_cpu_process_group, init_restarted_gpu_process_group,
                              needs_cpu_process_group)
    cfg.launcher = launcher
    timeout_s = collective_timeout_s(cfg)
    init_restarted_gpu_process_group(launcher, cfg, timeout_s)
    if needs_cpu_process_group(launcher):
        init_cpu_process_group(launcher, timeout_s)
        configure_cpu_ddp(cfg)
    if 'LOCAL_RANK' not in os.environ and launcher != 'none':
        os.environ['LOCAL_RANK'] = '0'


def build_parser() -> ToolParser:
    parser = ToolParser(description='Train a detector (from scratch).')
    parser.add_argument('config', help='config file path, or mmscratch::REL')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help="enable automatic-mixed-precision training (MMEngine's "
                        'AmpOptimWrapper: fp16 with dynamic loss scaling)')
    parser.add_argument('--bf16', action='store_true',
                        help='train the forward pass under bf16 autocast with losses in '
                        'fp32 (mmscratch BF16OptimWrapper; GPU or CPU)')
    parser.add_argument('--channels-last', action='store_true',
                        help='train in NHWC memory layout (adds ChannelsLastHook)')
    parser.add_argument('--fast-cpu-ops', action='store_true',
                        help="replace MMCV's single-threaded CPU RoIAlign and RPN NMS by "
                        'equivalent batched code (adds FastCPUOpsHook; faster on CPU with '
                        "small inputs such as the demo's, MMCV's kernels elsewhere)")
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR with the real batch (linear rule)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from PATH, or from the latest checkpoint in the work dir '
        'when no PATH is given; an error if there is none')
    parser.add_argument(
        '--allow-fresh-start', action='store_true',
        help='with --resume: start from iteration 0 (with a warning) when the '
        'work dir holds no checkpoint')
    parser.add_argument(
        '--allow-partial-load', action='store_true',
        help='load_from / --resume: load the weights that fit the model and only warn '
        'about the rest (default: an error naming the keys that do not fit)')
    parser.add_argument(
        '--scratchify', nargs='?', const='GN:6x', metavar='NORM:SCHEDULE',
        help="train the config's two-stage detector from scratch with the "
        "paper's recipe (mmscratch.scratchify): NORM GN or SyncBN, SCHEDULE "
        "e.g. 6x; either part may be left out (default GN:6x); applied "
        'before --cfg-options')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override settings in the config, key=value (MMEngine syntax)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--dry-run', action='store_true',
        help='print what the run will do (schedule at the real batch, LR, images seen, '
        'norms, parameters, init, hooks) and exit; writes nothing')
    parser.add_argument(
        '--gpus', type=int, default=None, metavar='N',
        help='with --dry-run: preview a launch on N processes (default: this launch)')
    return parser


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """What ``WORK_DIR/last_checkpoint`` names, as MMEngine's ``find_latest_checkpoint``
    reads it -- but never blocking on a FIFO planted there, nor following a link."""
    try:
        data = read_regular_file(osp.join(work_dir, 'last_checkpoint'), 4096)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise NothingToResume(f'--resume: {osp.join(work_dir, "last_checkpoint")} is not '
                              f'readable as a file name ({exc})') from None
    return data.decode('utf-8', errors='replace').strip() or None


def apply_resume(cfg: Config, resume: Optional[str], allow_fresh_start: bool) -> None:
    """Set ``cfg.resume``/``load_from`` from ``--resume``, refusing silent restarts."""
    if resume is None:
        return
    if resume != 'auto':
        if not osp.isfile(resume):
            raise NothingToResume(f'--resume: checkpoint file not found: {resume}')
        cfg.resume = True
        cfg.load_from = resume
        return
    latest = latest_checkpoint(cfg.work_dir)
    if latest is None or not osp.isfile(latest):
        message = (f'--resume: no checkpoint to resume from in {cfg.work_dir} '
                   f'(no readable last_checkpoint)')
        if not allow_fresh_start:
            raise NothingToResume(
                message + '; pass --allow-fresh-start to start from iteration 0')
        print_log(message + '; starting from iteration 0 (--allow-fresh-start)',
                  logger='current', level=logging.WARNING)
        cfg.resume = False
        return
    cfg.resume = True
    cfg.load_from = latest


def build_train_config(args: argparse.Namespace) -> Config:
    scratchify_flag = getattr(args, 'scratchify', None)
    if scratchify_flag is None:
        cfg = load_config(args.config, args.cfg_options)
    else:
        from ..recipe.scratchify import parse_scratchify_flag, scratchify
        cfg = scratchify(load_config(args.config), *parse_scratchify_flag(scratchify_flag))
        if args.cfg_options:
            merge_cfg_options(cfg, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    if args.amp and args.bf16:
        raise ValueError('--amp and --bf16 are two kinds of mixed precision: pick one')
    if args.bf16:
        optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_type not in ('OptimWrapper', 'BF16OptimWrapper'):
            raise ValueError(f'--bf16 needs an OptimWrapper, config has {optim_type}')
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
    ensure_hooks(cfg, TRAIN_HOOKS, dict(CheckpointMatchHook=dict(
        allow_partial=True) if getattr(args, 'allow_partial_load', False) else {}))
    if args.channels_last:
        ensure_hooks(cfg, dict(ChannelsLastHook='--channels-last'))
    if args.fast_cpu_ops:
        ensure_hooks(cfg, dict(FastCPUOpsHook='--fast-cpu-ops'))
    if args.amp:
        optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_type == 'AmpOptimWrapper':
            print_log('AMP is already enabled in the config', logger='current',
                      level=logging.WARNING)
        else:
            if optim_type != 'OptimWrapper':
                raise ValueError(f'--amp needs an OptimWrapper, config has {optim_type}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    apply_resume(cfg, args.resume, args.allow_fresh_start)
    return cfg


#: Hooks every run of tools/train.py has, added (and logged) where a config lacks
#: them: checkpoints that torch's default loader reads with nothing allow-listed,
#: the run_info.json the analysis tools read instead of executing a config, and
#: weights that do not fit the model refused instead of loaded in part.
TRAIN_HOOKS = {
    'PlainDataCheckpointHook': 'checkpoints as plain data',
    'RunInfoHook': 'run_info.json for the analysis tools',
    'CheckpointMatchHook': 'weights that do not fit the model are an error',
    'PreemptionHook': 'SIGTERM/SIGUSR1 save the current iteration, then exit 75',
    'RankHeartbeatHook': 'a hung collective names the rank that stopped answering',
}


def ensure_hooks(cfg: Config, hooks: dict, settings: Optional[dict] = None) -> None:
    """Add the ``hooks`` (name -> why) a config lacks to its ``custom_hooks``.

    ``settings`` (name -> keyword arguments) are applied to the added hooks
    and to the config's own hooks of those types.
    """
    settings = settings or {}
    custom = list(cfg.get('custom_hooks') or [])
    present = set()
    for hook in custom:
        name = type_name(hook if isinstance(hook, dict) else type(hook))
        present.add(name)
        if isinstance(hook, dict) and settings.get(name):
            hook.update(settings[name])
    missing = [name for name in hooks if name not in present]
    cfg.custom_hooks = custom + [dict(type=name, **settings.get(name, {})) for name in missing]
    if missing:
        print_log('custom_hooks: added ' + ', '.join(
            f'{name} ({hooks[name]})' for name in missing), logger='current')


class PlantedLink(FileExistsError):
    """A link or special file where MMEngine writes without checking."""


def refuse_links_at_config_dump(cfg: Config) -> None:
    """Stop if ``WORK_DIR/<config file name>`` is a link or not a regular file.

    MMEngine's ``Runner`` dumps the config there with a plain ``open(path,
    'w')``, which follows a link: one planted in a shared work dir under the
    config's (predictable) name would have the run overwrite any file the user
    can write. Checked after the work-dir lock is held, just before the Runner
    is built.
    """
    filename = getattr(cfg, 'filename', None)
    if not filename:
        return  # MMEngine then names the dump after the run's timestamp
    path = osp.join(cfg.work_dir, osp.basename(filename))
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        kind = 'a symbolic link' if stat.S_ISLNK(mode) else 'not a regular file'
        raise PlantedLink(f'{path} is {kind}; MMEngine writes the config there through a '
                          'plain open() and would follow it: remove it (or choose another '
                          '--work-dir)')


def build_runner(cfg: Config) -> Runner:
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


@older_checkpoints_readable()
def main(argv: Optional[Sequence[str]] = None) -> Optional[Runner]:
    """Train; the runner when the schedule is done (None for ``--dry-run``).

    A pre-emption signal ends it with :class:`Preempted` once the work-dir
    lock is released and every rank is done (``run_cli`` exits with its
    ``exit_code``: 75 when the current iteration was saved).
    """
    args = build_parser().parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = build_train_config(args)
    if args.dry_run:
        from .dry_run import describe_run
        print(describe_run(cfg, args.gpus or world_size_from_env()))
        return None
    if args.gpus is not None:
        raise ValueError('--gpus previews a launch with --dry-run; to train on N GPUs run '
                         'tools/dist_train.sh CONFIG N')
    set_launcher(cfg, args.launcher)
    check_train_config(cfg)  # clear errors for missing data / bad norm types
    # rank 0 holds WORK_DIR/run.lock before anything is written: a second job
    # on the same work dir stops here with a line naming the first
    lock = WorkDirLock(cfg.work_dir) if launch_rank() == 0 else contextlib.nullcontext()
    preempted = None
    with lock:
        if launch_rank() == 0:
            refuse_links_at_config_dump(cfg)
        runner = build_runner(cfg)
        try:
            runner.train()
        except Preempted as exc:  # logged by the hook; the exit code tells the scheduler
            preempted = exc
        except Exception as exc:
            failure = explain_distributed_failure(exc, runner, cfg)
            if failure is None:
                raise
            raise failure from exc
    if preempted is not None and preempted.saved:
        # rank 0 has released the work-dir lock before any rank exits: a launcher
        # that ends the job at the first exit (srun --kill-on-bad-exit) cannot
        # leave the lock behind for the requeued job
        wait_for_all_ranks()
    if needs_cpu_process_group(args.launcher) and (preempted is None or preempted.saved):
        shutdown_cpu_process_group()
    if preempted is not None:
        raise preempted  # run_cli exits with its code (75: saved)
    return runner


def wait_for_all_ranks() -> None:
    """A barrier in distributed runs (any backend); nothing otherwise."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def explain_distributed_failure(exc: Exception, runner,
                                cfg: Config) -> Optional[CollectiveFailure]:
    """In a distributed run: a failed collective as a :class:`CollectiveFailure`
    naming the rank at fault; any other error is posted for the other ranks'
    diagnosis and None is returned (the error itself is raised)."""
    import datetime

    import torch.distributed as dist
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() < 2:
        return None
    try:
        iteration = runner.iter + 1
    except Exception:
        iteration = None
    timeout = ((cfg.get('env_cfg') or {}).get('dist_cfg') or {}).get('timeout')
    if is_collective_failure(exc):
        grace = min(10.0, max(2.0, (timeout or 600) / 10))
        return CollectiveFailure(diagnose(exc, dist.get_rank(), dist.get_world_size(),
                                          iteration, timeout, grace_s=grace))
    store = default_store()
    if store is not None:
        try:
            store.set_timeout(datetime.timedelta(seconds=5))
            post_failure(store, dist.get_rank(), exc, iteration)
        except Exception:
            pass  # the store is gone: the others will name this rank as silent
    return None
