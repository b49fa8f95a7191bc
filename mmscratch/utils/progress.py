"""Progress of long loops (dataset generation and checks, subsets, sweeps).

MMEngine's ``ProgressBar`` (rate and ETA), written to stderr so that tools
that print JSON or tables on stdout stay clean, and only where a person
watches: it stays quiet when stderr is not a terminal (logs, CI, pipes) or
when the tool's ``--quiet`` asks for it.
"""
from __future__ import annotations

import sys
from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar('T')


def wants_progress(quiet: bool = False) -> bool:
    """Whether a bar should be drawn: not ``quiet`` and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


def track(items: Iterable[T], total: Optional[int] = None, enabled: Optional[bool] = None,
          title: str = '') -> Iterator[T]:
    """``items``, drawing a progress bar while they are consumed (if ``enabled``;
    by default when stderr is a terminal)."""
    if enabled is None:
        enabled = wants_progress()
    if total is None and hasattr(items, '__len__'):
        total = len(items)  # type: ignore[arg-type]
    if not enabled:
        yield from items
        return
    from mmengine.utils import ProgressBar
    if title:
        sys.stderr.write(f'{title}\n')
    bar = ProgressBar(total or 0, file=sys.stderr)
    for item in items:
        yield item
        bar.update()
    sys.stderr.write('\n')
