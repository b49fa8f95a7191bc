"""Skip corrupt or missing training images instead of crashing at hour 40.

Two parts, one per process kind:

* :class:`RobustLoadImageFromFile` (a transform, runs in the dataloader
  workers): ``LoadImageFromFile`` that returns ``None`` when the file is
  missing, unreadable or does not decode. MMEngine's ``BaseDataset`` then
  draws another image (train mode, up to ``max_refetch`` times). Each failure
  is logged once per image and counted in shared memory, which the workers
  (forked or spawned: the counters travel with the dataset) and the main
  process all see. When the failure rate passes the cap it raises
  :class:`TooManyBadImages` with the first failures listed: a dataset that is
  broken, not a few bad files, must stop the run at once.
* :class:`~mmscratch.engine.hooks.BadImageHook` (a hook, runs in the main
  process, ``mmscratch/engine/hooks/bad_image_hook.py``): reads the
  counters after every iteration, logs a warning with the running total when
  it grows, publishes it in the message hub (``bad_data/skipped``), and aborts
  with :class:`TooManyBadImages` on the same cap, so the error is raised in
  the main process with a clear message whatever the worker count.

Use it for training pipelines only. Evaluation must not silently change the
set of images it scores: there, ``tools/check_dataset.py`` is the tool.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
from typing import Iterator, List, Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from mmdet.registry import TRANSFORMS


class TooManyBadImages(RuntimeError):
    """More training images failed to load than the configured cap allows."""


class BadImageStats:
    """Load attempts and failures, in shared memory, plus the first failures.

    The counters are ``multiprocessing.Value`` objects created in the main
    process when the dataset is built; dataloader workers inherit them
    (fork) or receive them with the dataset (spawn), so increments made in a
    worker are visible in the main process.
    """

    MAX_EXAMPLES = 10

    def __init__(self):
        self.attempts = mp.Value('q', 0)
        self.failures = mp.Value('q', 0)
        # the examples are per process; the main process logs its own and the
        # hook reports counts, which is what matters for the cap
        self.examples: List[str] = []
        self._seen = set()

    def record(self, ok: bool, path: str = '', reason: str = '') -> bool:
        """Count one load; returns True when a failure is new to this process."""
        with self.attempts.get_lock():
            self.attempts.value += 1
        if ok:
            return False
        with self.failures.get_lock():
            self.failures.value += 1
        if path in self._seen:
            return False
        self._seen.add(path)
        if len(self.examples) < self.MAX_EXAMPLES:
            self.examples.append(f'{path} ({reason})')
        return True

    def __deepcopy__(self, memo):
        # Pipelines and dataset configs get deep-copied; a copy must count into
        # the same shared memory (and Synchronized objects refuse pickling).
        return self

    @property
    def counts(self):
        return int(self.attempts.value), int(self.failures.value)


def cap_exceeded(attempts: int, failures: int, max_bad_fraction: float,
                 min_attempts: int, max_bad_images: Optional[int]) -> Optional[str]:
    """Why the failures are too many, or None."""
    if max_bad_images is not None and failures > max_bad_images:
        return f'{failures} image loads failed (cap max_bad_images={max_bad_images})'
    if attempts >= min_attempts and failures > max_bad_fraction * attempts:
        return (f'{failures} of {attempts} image loads failed ({failures / attempts:.1%}, '
                f'cap max_bad_fraction={max_bad_fraction:.1%})')
    return None


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that skips (returns None for) unloadable images.

    Args:
        max_bad_fraction: abort when more than this fraction of loads failed
            (checked once ``min_attempts`` loads were made).
        min_attempts: loads before the fraction is checked (a few bad images
            early in an epoch must not trip it).
        max_bad_images: abort when more loads than this failed in total
            (None: no absolute cap). Counts are per training process
            lifetime: an image that is bad is counted each time it is drawn.
        **kwargs: ``LoadImageFromFile``'s arguments (``ignore_empty`` is
            implied).
    """

    def __init__(self, max_bad_fraction: float = 0.01, min_attempts: int = 200,
                 max_bad_images: Optional[int] = None, **kwargs):
        kwargs.pop('ignore_empty', None)
        super().__init__(ignore_empty=True, **kwargs)
        if not 0 <= max_bad_fraction <= 1:
            raise ValueError(f'max_bad_fraction must be in [0, 1], got {max_bad_fraction}')
        self.max_bad_fraction = max_bad_fraction
        self.min_attempts = min_attempts
        self.max_bad_images = max_bad_images
        self.stats = BadImageStats()

    def _load(self, filename: str) -> np.ndarray:
        if self.file_client_args is not None:
            img_bytes = fileio.FileClient.infer_client(
                self.file_client_args, filename).get(filename)
        else:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
        if not img_bytes:
            raise ValueError('empty file')
        img = mmcv.imfrombytes(img_bytes, flag=self.color_type, backend=self.imdecode_backend)
        if img is None or img.size == 0:
            raise ValueError('does not decode as an image')
        return img

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            img = self._load(filename)
        except FileNotFoundError:
            reason = 'file not found'
        except Exception as exc:  # any other I/O or decoder error: skip the image
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        else:
            self.stats.record(True)
            if self.to_float32:
                img = img.astype(np.float32)
            results['img'] = img
            results['img_shape'] = img.shape[:2]
            results['ori_shape'] = img.shape[:2]
            return results
        # outside the except blocks: a cap error must not chain the decoder's
        if self.stats.record(False, filename, reason):
            print_log(f"Skipping training image {filename} (img_id {results.get('img_id', '?')})"
                      f': {reason}', logger='current', level=logging.WARNING)
        self._raise_if_capped()
        return None

    def cap_message(self) -> Optional[str]:
        return cap_exceeded(*self.stats.counts, self.max_bad_fraction, self.min_attempts,
                            self.max_bad_images)

    def _raise_if_capped(self) -> None:
        why = self.cap_message()
        if why is not None:
            raise TooManyBadImages(
                f'{why}; the dataset is broken, not just a few files. Run '
                'tools/check_dataset.py ANN_JSON IMG_DIR for the full list. First '
                f'failures seen here: {"; ".join(self.stats.examples)}')

    def __repr__(self):
        return (super().__repr__()[:-1] + f', max_bad_fraction={self.max_bad_fraction}, '
                f'min_attempts={self.min_attempts}, max_bad_images={self.max_bad_images})')


def find_robust_loaders(dataset) -> Iterator[RobustLoadImageFromFile]:
    """The :class:`RobustLoadImageFromFile` transforms of a (wrapped) dataset."""
    seen = set()
    stack = [dataset]
    while stack:
        ds = stack.pop()
        if ds is None or id(ds) in seen:
            continue
        seen.add(id(ds))
        pipeline = getattr(ds, 'pipeline', None)
        for transform in getattr(pipeline, 'transforms', None) or []:
            if isinstance(transform, RobustLoadImageFromFile):
                yield transform
        stack.extend(getattr(ds, 'datasets', None) or [])  # ConcatDataset
        stack.append(getattr(ds, 'dataset', None))  # Repeat/ClassBalanced wrappers
