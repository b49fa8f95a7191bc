"""``BadImageHook``: report skipped training images, stop when too many fail.

The counting happens in :class:`~mmscratch.datasets.RobustLoadImageFromFile`
(dataloader workers, shared-memory counters); this hook is its main-process
half. See :mod:`mmscratch.datasets.robust_loading`.
"""
from __future__ import annotations

from typing import List

from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ...datasets.robust_loading import (RobustLoadImageFromFile, TooManyBadImages,
                                        find_robust_loaders)


@HOOKS.register_module()
class BadImageHook(Hook):
    """Report skipped training images and stop when too many fail.

    When it runs: ``before_train`` (finds the ``RobustLoadImageFromFile``
    transforms of the train dataset; warns if there are none) and
    ``after_train_iter`` (reads the shared counters).

    What it changes: nothing in training. It logs a warning whenever the
    number of skipped images grows, publishes ``bad_data/skipped`` and
    ``bad_data/attempts`` in the message hub, and raises
    :class:`TooManyBadImages` when a transform's cap is exceeded.
    """

    priority = 'NORMAL'

    def __init__(self):
        self._loaders: List[RobustLoadImageFromFile] = []
        self._reported = 0

    def before_train(self, runner) -> None:
        self._loaders = list(find_robust_loaders(runner.train_dataloader.dataset))
        if not self._loaders:
            runner.logger.warning(
                'BadImageHook: the train pipeline has no RobustLoadImageFromFile; '
                'a corrupt image will stop training')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self._loaders:
            return
        attempts = sum(t.stats.counts[0] for t in self._loaders)
        failures = sum(t.stats.counts[1] for t in self._loaders)
        runner.message_hub.update_info('bad_data/skipped', failures)
        runner.message_hub.update_info('bad_data/attempts', attempts)
        if failures > self._reported:
            runner.logger.warning(
                f'Skipped {failures} training image load(s) so far ({failures - self._reported} '
                f'new) out of {attempts}: corrupt or missing files; see the warnings '
                'above, or run tools/check_dataset.py')
            self._reported = failures
        for transform in self._loaders:
            why = transform.cap_message()
            if why is not None:
                raise TooManyBadImages(
                    f'{why}; stopping at iteration {runner.iter + 1}. Run '
                    'tools/check_dataset.py ANN_JSON IMG_DIR for the full list of problems.')
