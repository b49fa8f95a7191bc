"""Test-only hooks that break a real run on purpose (registered in mmdet's HOOKS).

Imported by the reliability tests, and by training subprocesses through
``custom_imports`` (with the repository root on ``PYTHONPATH``).
"""
import os
import signal

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS


@HOOKS.register_module()
class SigkillBeforeIterHook(Hook):
    """SIGKILL this process right before iteration ``at`` (1-based) starts:
    what the OOM killer or a pre-empted node does, no cleanup of any kind."""

    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class NanLossAtHook(Hook):
    """Make the total loss of iteration ``at`` (1-based) NaN, as a diverging
    GN/SyncBN run does: the model's ``parse_losses`` is wrapped for one call."""

    def __init__(self, at: int):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        original = model.parse_losses

        def nan_once(losses):
            model.parse_losses = original
            loss, log_vars = original(losses)
            log_vars['loss'] = log_vars['loss'] * float('nan')  # logged as it happened
            return loss * float('nan'), log_vars

        model.parse_losses = nan_once
