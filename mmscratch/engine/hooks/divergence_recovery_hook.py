"""``DivergenceRecoveryHook``: catch a diverging run, roll it back, carry on.

Training from scratch is where losses blow up (GN/SyncBN runs going NaN). In
fp32 nothing in MMEngine notices: the NaN update is applied, every later
iteration is NaN, and the run burns its remaining days. This hook:

1. **detects**, every iteration and before the optimizer step: a non-finite
   loss or gradient norm, a loss above ``loss_threshold``, a gradient norm
   above ``grad_norm_threshold``, or a loss more than ``spike_factor`` times
   its running average. All ranks agree (one all-reduce of a flag), so they
   all take the same branch;
2. **skips** the offending update: the optimizer step is not taken, so the
   weights and momentum never see the bad batch;
3. **rolls back** weights and optimizer state (momentum, AMP loss scale) to the
   last checkpoint, the last good state (checkpoints are only written after
   iterations that passed the check);
4. **lowers the LR** by ``lr_factor`` for the rest of the run (param groups
   and the schedulers' base values, so it survives LR steps and resume);
5. **logs** what it did, and continues with the next batch. The iteration
   counter and LR schedule keep their position: the batches between the
   checkpoint and the divergence, the offending one included, are skipped,
   as in PaLM's recipe (restart from an earlier checkpoint, skip the batches
   around the spike).

After ``max_recoveries`` recoveries the next divergence raises
:class:`DivergenceError`, before the checkpoint hook of that iteration runs,
so the last good checkpoint is left intact for a look or a manual resume.

With no checkpoint yet (divergence in the warm-up), the skipped update is the
whole recovery if weights and buffers are still finite; otherwise it stops.

When it runs: ``before_train`` (installs the check on the optim wrapper's
``update_params``/``step``: detection has to happen between backward and the
step, where hooks have no entry point), ``after_train_iter`` (recovers; its
priority is above the logger and checkpoint hooks), ``before_save_checkpoint``
/ ``after_load_checkpoint`` (its state: recoveries, LR scale, loss average).

Works with ``OptimWrapper`` (``BF16OptimWrapper`` included) and
``AmpOptimWrapper``. With fp16 AMP, non-finite *gradients* are the loss
scaler's normal business (it skips the step and lowers the scale), so only
the loss and the unscaled gradient norm count.
"""
from __future__ import annotations

import math
import os.path as osp
from typing import List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
from mmdet.registry import HOOKS

CHECKPOINT_KEY = 'divergence_recovery'


class DivergenceError(RuntimeError):
    """Training diverged more often than the hook may recover from."""


def _grad_norm(params) -> float:
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = torch._foreach_norm(grads) if hasattr(torch, '_foreach_norm') \
        else [torch.linalg.vector_norm(g) for g in grads]
    return float(torch.linalg.vector_norm(torch.stack([n.float() for n in norms])))


def _scale_lr(runner, factor: float) -> None:
    """Multiply the LR, now and for the rest of the schedule, by ``factor``."""
    for group in runner.optim_wrapper.param_groups:
        group['lr'] *= factor
        if 'initial_lr' in group:
            group['initial_lr'] *= factor
    schedulers = runner.param_schedulers or []
    if isinstance(schedulers, dict):
        schedulers = [s for group in schedulers.values() for s in group]
    for scheduler in schedulers:
        # closed-form schedulers (ScratchScheduleLR, cosine) recompute the LR
        # from base_values every step; chained ones start from the group LR.
        if getattr(scheduler, 'param_name', None) == 'lr' and hasattr(scheduler, 'base_values'):
            scheduler.base_values = [v * factor for v in scheduler.base_values]


@HOOKS.register_module()
class DivergenceRecoveryHook(Hook):
    """Detect divergence before the optimizer step; roll back and continue.

    Args:
        max_recoveries: recoveries allowed in the run (all resumes together);
            the next divergence raises :class:`DivergenceError`.
        lr_factor: the LR is multiplied by this at each recovery.
        loss_threshold: a loss above it is a divergence (None: off).
        grad_norm_threshold: a gradient L2 norm above it (unscaled, before
            clipping) is a divergence (None: off).
        spike_factor: a loss above ``spike_factor`` x its running average
            (exponential, over ``spike_window`` iterations) is a divergence,
            once ``min_history`` iterations were seen (None: off).
        spike_window: time constant of the running average, iterations.
        min_history: iterations before the spike check starts.
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self,
                 max_recoveries: int = 3,
                 lr_factor: float = 0.5,
                 loss_threshold: Optional[float] = None,
                 grad_norm_threshold: Optional[float] = None,
                 spike_factor: Optional[float] = 20.0,
                 spike_window: int = 50,
                 min_history: int = 20):
        if max_recoveries < 0:
            raise ValueError(f'max_recoveries must be >= 0, got {max_recoveries}')
        if not 0 < lr_factor <= 1:
            raise ValueError(f'lr_factor must be in (0, 1], got {lr_factor}')
        if spike_factor is not None and spike_factor <= 1:
            raise ValueError(f'spike_factor must be > 1, got {spike_factor}')
        self.max_recoveries = max_recoveries
        self.lr_factor = lr_factor
        self.loss_threshold = loss_threshold
        self.grad_norm_threshold = grad_norm_threshold
        self.spike_factor = spike_factor
        self.spike_alpha = 2.0 / (spike_window + 1)
        self.min_history = min_history
        # state saved in checkpoints
        self.recoveries = 0
        self.lr_scale = 1.0
        self.loss_avg: Optional[float] = None
        self.history = 0
        self.events: List[dict] = []
        self._loaded: Optional[dict] = None
        # per-step scratch
        self._window_loss: Optional[float] = None
        self._anomaly: Optional[dict] = None

    # ----------------------------------------------------------- state I/O
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = dict(
            recoveries=self.recoveries, lr_scale=self.lr_scale, loss_avg=self.loss_avg,
            history=self.history, events=list(self.events))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # applied in before_train, and only when resuming (not for load_from)
        self._loaded = checkpoint.get(CHECKPOINT_KEY)

    # --------------------------------------------------------- installation
    def before_train(self, runner) -> None:
        saved, self._loaded = self._loaded, None
        if saved and runner.iter > 0:
            self.recoveries = int(saved['recoveries'])
            self.lr_scale = float(saved['lr_scale'])
            self.loss_avg = saved['loss_avg']
            self.history = int(saved['history'])
            self.events = list(saved['events'])
        wrapper = runner.optim_wrapper
        if not isinstance(wrapper, OptimWrapper):
            raise TypeError(
                f'DivergenceRecoveryHook needs an OptimWrapper or AmpOptimWrapper, '
                f'got {type(wrapper).__name__}')
        if getattr(wrapper, '_divergence_guard', None) is self:
            return
        update_params, step = wrapper.update_params, wrapper.step

        def guarded_update_params(loss, *args, **kwargs):
            value = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
            # with gradient accumulation, the worst loss of the window counts
            # (a NaN anywhere in the window sticks)
            current = self._window_loss
            if current is None or math.isnan(value) or \
                    (not math.isnan(current) and value > current):
                self._window_loss = value
            return update_params(loss, *args, **kwargs)

        def guarded_step(*args, **kwargs):
            anomaly = self._check(runner, wrapper)
            self._window_loss = None
            if anomaly is not None:
                self._anomaly = anomaly
                return None  # update_params zeroes the gradients next
            return step(*args, **kwargs)

        # param schedulers mark the step they wrapped; keep the mark visible
        guarded_step._with_counter = getattr(step, '_with_counter', False)
        wrapper.update_params = guarded_update_params
        wrapper.step = guarded_step
        wrapper._divergence_guard = self

    # -------------------------------------------------------------- checks
    def _check(self, runner, wrapper) -> Optional[dict]:
        """Decide, identically on all ranks, whether this update diverged."""
        loss = self._window_loss if self._window_loss is not None else 0.0
        params = [p for group in wrapper.param_groups for p in group['params']]
        grad_norm = _grad_norm(params)
        amp = isinstance(wrapper, AmpOptimWrapper)
        if amp:
            grad_norm /= float(wrapper.loss_scaler.get_scale())
        reasons = []
        if not math.isfinite(loss):
            reasons.append(f'non-finite loss ({loss})')
        elif self.loss_threshold is not None and loss > self.loss_threshold:
            reasons.append(f'loss {loss:.4g} > loss_threshold {self.loss_threshold:.4g}')
        elif (self.spike_factor is not None and self.loss_avg is not None
              and self.history >= self.min_history
              and loss > self.spike_factor * self.loss_avg):
            reasons.append(f'loss {loss:.4g} > {self.spike_factor:g} x running average '
                           f'{self.loss_avg:.4g}')
        if not math.isfinite(grad_norm):
            if not amp:  # under AMP the loss scaler handles overflowing gradients
                reasons.append(f'non-finite gradient norm ({grad_norm})')
        elif self.grad_norm_threshold is not None and grad_norm > self.grad_norm_threshold:
            reasons.append(f'gradient norm {grad_norm:.4g} > grad_norm_threshold '
                           f'{self.grad_norm_threshold:.4g}')
        flag = torch.tensor([1.0 if reasons else 0.0], dtype=torch.float64)
        if get_world_size() > 1:
            all_reduce(flag, op='sum')  # any rank diverged -> all ranks recover
        if flag.item() == 0:
            self.history += 1
            self.loss_avg = loss if self.loss_avg is None else \
                (1 - self.spike_alpha) * self.loss_avg + self.spike_alpha * loss
            return None
        if not reasons:
            reasons.append('another rank diverged')
        return dict(iter=runner.iter + 1, loss=loss, grad_norm=grad_norm, reasons=reasons)

    # ------------------------------------------------------------ recovery
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        anomaly, self._anomaly = self._anomaly, None
        if anomaly is None:
            return
        checkpoint = self._last_checkpoint(runner)
        what = f"iteration {anomaly['iter']}: {', '.join(anomaly['reasons'])}"
        if self.recoveries >= self.max_recoveries:
            raise DivergenceError(
                f'training diverged at {what}, after {self.recoveries} recoveries '
                f'(max_recoveries={self.max_recoveries}). The last good checkpoint is '
                f'{checkpoint or "(none written yet)"}; lower the LR or lengthen the '
                'warm-up before resuming.')
        self.recoveries += 1
        if checkpoint is not None:
            ckpt_iter = self._roll_back(runner, checkpoint)
            rolled = (f'rolled back weights and optimizer state to {osp.basename(checkpoint)} '
                      f'(iteration {ckpt_iter}; the updates of iterations {ckpt_iter + 1}-'
                      f"{anomaly['iter'] - 1} are discarded)")
        else:
            self._require_finite_state(runner, what)
            ckpt_iter = None
            rolled = 'no checkpoint yet: kept the weights (still finite)'
        _scale_lr(runner, self.lr_factor)
        self.lr_scale *= self.lr_factor
        event = dict(anomaly, rolled_back_to=ckpt_iter, lr_scale=self.lr_scale)
        self.events.append(event)
        runner.message_hub.update_info('divergence/recoveries', self.recoveries)
        lrs = sorted({g['lr'] for g in runner.optim_wrapper.param_groups})
        runner.logger.warning(
            f'DivergenceRecoveryHook: recovery {self.recoveries}/{self.max_recoveries} '
            f'at {what}. Skipped the offending batch (its update was not applied), '
            f'{rolled}, LR x{self.lr_factor:g} (now {", ".join(f"{lr:.4g}" for lr in lrs)}, '
            f'x{self.lr_scale:g} of the schedule); continuing.')

    @staticmethod
    def _last_checkpoint(runner) -> Optional[str]:
        candidates = [runner.message_hub.get_info('last_ckpt')]
        last_file = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(last_file):
            with open(last_file) as f:
                candidates.append(f.read().strip())
        for path in candidates:
            if path and osp.isfile(path):
                return path
        return None

    @staticmethod
    def _roll_back(runner, path: str) -> int:
        checkpoint = _load_checkpoint(path, map_location='cpu')
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        load_state_dict(model, checkpoint['state_dict'], strict=True)
        wrapper = runner.optim_wrapper
        if 'optimizer' in checkpoint:
            # The optimizer state dict also holds the LR etc. of the checkpoint's
            # iteration; the schedule position stays where it is now.
            hyper = [{k: v for k, v in g.items() if k != 'params'} for g in wrapper.param_groups]
            wrapper.load_state_dict(dict(checkpoint['optimizer']))
            for group, saved in zip(wrapper.param_groups, hyper):
                group.update(saved)
        wrapper.zero_grad()
        return int(checkpoint['meta']['iter'])

    @staticmethod
    def _require_finite_state(runner, what: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        bad = [n for n, t in list(model.named_parameters()) + list(model.named_buffers())
               if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:
            raise DivergenceError(
                f'training diverged at {what} before the first checkpoint, and '
                f'{len(bad)} weight/buffer tensor(s) are no longer finite (e.g. {bad[0]}); '
                'lower the LR or lengthen the warm-up')
