"""PyTorch DDP on machines without CUDA, the way MMEngine expects it.

MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and fails on a CPU
build of torch, and its DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which
CPU modules refuse. On such machines we initialise the gloo process group
ourselves from torchrun's / Slurm's environment before the Runner exists (the
Runner then skips ``init_dist``) and ask for ``device_ids=None``. GPU machines
are untouched: MMEngine launches NCCL as usual.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as torch_dist


def _slurm_to_torchrun_env() -> None:
    """Fill torchrun's variables from Slurm's, as MMEngine's slurm launcher does."""
    if 'SLURM_PROCID' not in os.environ:
        return
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        import subprocess
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')


def launch_rank() -> int:
    """This process's global rank as the launcher set it (0 without one).

    Read from torchrun's / Slurm's environment, so it is known before any
    process group exists (MMEngine creates the NCCL group inside the Runner).
    """
    for var in ('RANK', 'SLURM_PROCID'):
        value = os.environ.get(var, '')
        if value.isdigit():
            return int(value)
    return 0


def world_size_from_env() -> int:
    """The number of processes the launcher started (1 without one)."""
    for var in ('WORLD_SIZE', 'SLURM_NTASKS'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return 1
#: Seconds a collective may wait for a rank before the job ends (``env_cfg.dist_cfg.timeout``
#: when the config sets none). gloo's and PyTorch's default is 30 minutes of every GPU
#: idling behind one hung rank; 10 minutes still covers a COCO evaluation on rank 0
#: or a checkpoint save while the others wait.
DEFAULT_COLLECTIVE_TIMEOUT_S = 600


def collective_timeout_s(cfg) -> int:
    """The process-group timeout of ``cfg`` in seconds, written into the config.

    One setting for both backends: MMEngine passes ``env_cfg.dist_cfg`` to
    ``init_process_group`` (NCCL on GPUs) and :func:`init_cpu_process_group`
    uses the same value for gloo. A config without it gets
    :data:`DEFAULT_COLLECTIVE_TIMEOUT_S`; anything but a positive number of
    seconds is a ``ValueError`` naming the key.
    """
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = env_cfg.get('dist_cfg') or {}
    timeout = dist_cfg.get('timeout')
    if timeout is None:
        timeout = DEFAULT_COLLECTIVE_TIMEOUT_S
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
            not 0 < timeout < 10 ** 7:
        raise ValueError(f'env_cfg.dist_cfg.timeout={timeout!r:.40}: expected a number of '
                         'seconds > 0 (the time a collective waits for a rank)')
    timeout = max(1, int(round(timeout)))
    cfg.env_cfg = dict(env_cfg, dist_cfg=dict(dist_cfg, timeout=timeout))
    return timeout


def process_group_timeout_s():
    """The timeout of the default process group as PyTorch applied it, or None."""
    if not torch_dist.is_available() or not torch_dist.is_initialized():
        return None
    try:
        group = torch_dist.group.WORLD
        device = torch.device('cuda' if torch_dist.get_backend() == 'nccl' else 'cpu')
        return group._get_backend(device).options._timeout.total_seconds()
    except Exception:  # private API: absent in some versions
        return None


def needs_cpu_process_group(launcher: str) -> bool:
    return launcher != 'none' and not torch.cuda.is_available()


def restart_attempt() -> int:
    """Which start of the workers this is under torchrun (0: the first)."""
    value = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
    return int(value) if value.isdigit() else 0


def _attempt_store(timeout):
    """torchrun's store with a key prefix of its own for this restart attempt.

    torchrun's workers share its agent's key-value store across restarts
    (``TORCHELASTIC_USE_AGENT_STORE``), and ``init_process_group`` writes the
    same keys at every start: a restarted worker can read the address its
    peer had in the previous attempt and fail to connect (or, with NCCL, get
    the old communicator id). A prefix per attempt keeps them apart. None
    outside torchrun.
    """
    if os.environ.get('TORCHELASTIC_USE_AGENT_STORE') != 'True':
        return None
    store = torch_dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']),
                                int(os.environ['WORLD_SIZE']), False, timeout)
    return torch_dist.PrefixStore(f'mmscratch/attempt_{restart_attempt()}', store)


def init_process_group_from_env(launcher: str, backend: str, timeout_s: int) -> None:
    """Start the default process group from torchrun's / Slurm's environment."""
    import datetime
    if torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        _slurm_to_torchrun_env()
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher} needs the variables {missing} that torchrun or '
            'srun set; start with tools/dist_train.sh or tools/slurm_train.sh')
    timeout = datetime.timedelta(seconds=timeout_s)
    if backend == 'nccl':
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', '0')))  # as MMEngine does
    store = _attempt_store(timeout)
    if store is None:
        torch_dist.init_process_group(backend=backend, timeout=timeout)
    else:
        torch_dist.init_process_group(backend=backend, timeout=timeout, store=store,
                                      rank=int(os.environ['RANK']),
                                      world_size=int(os.environ['WORLD_SIZE']))


def init_cpu_process_group(launcher: str,
                           timeout_s: int = DEFAULT_COLLECTIVE_TIMEOUT_S) -> None:
    """Start a gloo process group for ``launcher`` ('pytorch' or 'slurm')."""
    init_process_group_from_env(launcher, 'gloo', timeout_s)


def init_restarted_gpu_process_group(launcher: str, cfg, timeout_s: int) -> bool:
    """On GPUs, a worker restarted by torchrun starts NCCL itself, with the
    store prefix of its attempt (:func:`_attempt_store`); MMEngine then skips
    its own ``init_dist``. First starts are left to MMEngine. True if started."""
    if launcher != 'pytorch' or not torch.cuda.is_available() or restart_attempt() == 0 or \
            os.environ.get('TORCHELASTIC_USE_AGENT_STORE') != 'True':
        return False
    dist_cfg = (cfg.get('env_cfg') or {}).get('dist_cfg') or {}
    init_process_group_from_env(launcher, dist_cfg.get('backend', 'nccl'), timeout_s)
    return True


def configure_cpu_ddp(cfg) -> None:
    """Make the config's DDP wrapper accept CPU modules."""
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def shutdown_cpu_process_group() -> None:
    """Wait for every rank, then tear the gloo group down before exit.

    Left to interpreter exit, gloo's threads can be destroyed while a peer is
    still connected, and a rank dies with ``terminate called without an active
    exception`` (SIGABRT) after a run that finished fine.
    """
    if torch_dist.is_initialized() and torch_dist.get_backend() == 'gloo':
        torch_dist.barrier()
        torch_dist.destroy_process_group()
