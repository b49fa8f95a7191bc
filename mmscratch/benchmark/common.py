"""Pieces shared by the train and data benchmarks: timing statistics,
peak-memory measurement and environment facts."""
from __future__ import annotations

import math
import platform
import resource
import statistics
from typing import Dict, List, Optional, Sequence



def register_modules() -> None:
    """MMDetection's registries as default scope, mmscratch's modules added."""
    from mmdet.utils import register_all_modules
    import mmscratch  # noqa: F401  (registers mmscratch's datasets, hooks, loops)
    register_all_modules(init_default_scope=True)


def time_stats(values: Sequence[float]) -> Dict[str, float]:
    """mean, median and 90th percentile (nearest rank) of a list of seconds."""
    ordered = sorted(values)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return dict(mean=statistics.fmean(ordered), median=statistics.median(ordered), p90=p90)


def versions() -> Dict[str, str]:
    import mmcv
    import mmdet
    import mmengine
    import torch

    import mmscratch
    return dict(torch=torch.__version__, mmcv=mmcv.__version__, mmdet=mmdet.__version__,
                mmengine=mmengine.__version__, mmscratch=mmscratch.__version__,
                python=platform.python_version())


def _read_status_kb(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class MemoryMeter:
    """Peak memory of one benchmark's measured blocks, in MB.

    CUDA: ``torch.cuda.max_memory_allocated`` with the peak reset before each
    block, so two configs alternating in one process each get their own peak.
    CPU: the growth of the process's peak RSS over the RSS at the block's
    start. Linux lets a process reset its own peak RSS (``VmHWM``) through
    ``/proc/self/clear_refs``, which keeps alternating configs apart there
    too; where that fails, ``getrusage``'s lifetime peak is used, whose growth
    is billed to whichever config first pushed it higher.
    """

    def __init__(self, device: str):
        self.cuda = device.startswith('cuda')
        self.peak_mb = 0.0
        self._start_kb = 0

    def start_block(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
            self._start_kb = _read_status_kb('VmRSS') or 0
            self._use_hwm = _read_status_kb('VmHWM') is not None
        except OSError:
            self._use_hwm = False
            self._start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def end_block(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            now = _read_status_kb('VmHWM') if self._use_hwm else \
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = max(0, now - self._start_kb) / 1024
        self.peak_mb = max(self.peak_mb, peak)


def alternate(benches: List, warmup: int, iters: int, block_iters: int) -> None:
    """Warm every bench up, then run them in turns of ``block_iters``.

    Alternating in small blocks means that a slow phase of a noisy machine
    (another job, thermal throttling) hits both configs alike, so their
    ratio holds even where absolute times drift.
    """
    for bench in benches:
        for _ in range(warmup):
            bench.step(record=False)
    done = 0
    while done < iters:
        n = min(block_iters, iters - done)
        for bench in benches:
            bench.memory.start_block()
            for _ in range(n):
                bench.step(record=True)
            bench.memory.end_block()
        done += n
