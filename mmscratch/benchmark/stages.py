"""Per-stage wall-clock timers for a detector's training step.

Forward time is attributed with forward pre-/post-hooks on the detector's
submodules, matched by their attribute names so that any two-stage or
cascade model from MMDetection is covered:

=============  ==========================================================
stage          modules (outermost match only, so nothing counts twice)
=============  ==========================================================
backbone_fpn   ``backbone``, ``neck``
rpn            ``rpn_head`` (its forward: convs and cls/reg outputs)
roi_box        ``roi_head.bbox_roi_extractor*``, ``roi_head.bbox_head*``
roi_mask       ``roi_head.mask_roi_extractor*``, ``roi_head.mask_head*``
=============  ==========================================================

``loss_targets`` is the rest of ``model.loss``: anchor/target assignment,
sampling, proposal NMS, mask target cropping and the loss functions, all of
which run outside those modules' ``forward``. ``preprocess``, ``backward``
and ``optimizer_step`` are timed around their calls by the train benchmark.

On CUDA every boundary synchronizes, or kernels launched by one stage would
be billed to the next; that costs a little throughput, hence ``--no-stages``.
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from typing import Callable, Dict, List

import torch.nn as nn

#: Stage name -> regexes over ``named_modules()`` names.
STAGE_PATTERNS = {
    'backbone_fpn': (r'backbone', r'neck'),
    'rpn': (r'rpn_head',),
    'roi_box': (r'roi_head\.bbox_roi_extractor(\.\d+)?', r'roi_head\.bbox_head(\.\d+)?'),
    'roi_mask': (r'roi_head\.mask_roi_extractor(\.\d+)?', r'roi_head\.mask_head(\.\d+)?'),
}
#: Every stage a result reports, in training-step order.
ALL_STAGES = ('preprocess', 'backbone_fpn', 'rpn', 'roi_box', 'roi_mask',
              'loss_targets', 'backward', 'optimizer_step')


def match_stage_modules(model: nn.Module) -> Dict[str, List[str]]:
    """Stage -> names of the modules it times (outermost matches, no containers).

    ``ModuleList`` s are skipped because their ``forward`` is never called
    (cascade heads index into them); their indexed children match instead.
    """
    found: Dict[str, List[str]] = defaultdict(list)
    claimed: List[str] = []
    for name, module in model.named_modules():
        if not name or isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            continue
        if any(name.startswith(c + '.') for c in claimed):
            continue
        for stage, patterns in STAGE_PATTERNS.items():
            if any(re.fullmatch(p, name) for p in patterns):
                found[stage].append(name)
                claimed.append(name)
                break
    return dict(found)


class StageTimer:
    """Accumulates seconds per stage for one iteration at a time.

    Args:
        model: the detector (unwrapped).
        sync: callable that waits for the device (``torch.cuda.synchronize``
            on CUDA, a no-op on CPU).
    """

    def __init__(self, model: nn.Module, sync: Callable[[], None]):
        self.sync = sync
        self.modules = match_stage_modules(model)
        self.current: Dict[str, float] = defaultdict(float)
        self._starts: Dict[int, float] = {}
        self._handles = []
        named = dict(model.named_modules())
        for stage, names in self.modules.items():
            for name in names:
                module = named[name]
                self._handles.append(module.register_forward_pre_hook(self._pre))
                self._handles.append(module.register_forward_hook(self._make_post(stage)))

    def _pre(self, module, args):
        self.sync()
        # keyed by module: a module's forward never nests inside itself
        self._starts[id(module)] = time.perf_counter()

    def _make_post(self, stage: str):
        def post(module, args, output):
            self.sync()
            self.current[stage] += time.perf_counter() - self._starts.pop(id(module))
        return post

    def add(self, stage: str, seconds: float) -> None:
        self.current[stage] += seconds

    def forward_seconds(self) -> float:
        """Seconds spent so far this iteration inside hooked modules."""
        return sum(self.current[s] for s in STAGE_PATTERNS)

    def pop(self) -> Dict[str, float]:
        """This iteration's stage times (every stage present), then reset."""
        out = {s: float(self.current.get(s, 0.0)) for s in ALL_STAGES}
        self.current = defaultdict(float)
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
