"""Training-step benchmark of any MMDetection config.

One :class:`TrainBench` holds one config's model, optimizer and input
source; :meth:`TrainBench.step` runs one training iteration with the same
calls as MMEngine's ``BaseModel.train_step`` (preprocess and loss under the
optimizer wrapper's context, then backward and step), split so that each
part is timed. Several benches can live in one process and be stepped in
turns (:func:`mmscratch.benchmark.common.alternate`).

Two deliberate departures from a real run, both so that every iteration
costs the same:

* weights are never initialised from checkpoints (``init_weights`` is not
  called: a stock config would otherwise download ImageNet weights), and
* the learning rate is set to 0: SGD still runs every one of its tensor
  operations, but the model never changes, so a long benchmark cannot
  diverge into NaNs or drift into a different number of proposals.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch

from ..utils.config_loading import load_config
from .common import MemoryMeter, register_modules, time_stats, versions
from .stages import StageTimer
from .synthetic import COCO_IMAGE_SIZE, COCO_INSTANCES_PER_IMAGE, make_train_batch


@dataclass
class TrainBenchOptions:
    """What to run; the CLI's flags map one to one onto these."""
    device: str = 'cpu'
    input: str = 'synthetic'                      # 'synthetic' | 'real'
    image_size: Tuple[int, int] = COCO_IMAGE_SIZE  # W, H (synthetic only)
    batch_size: Optional[int] = None              # None: the config's (real), 2 (synthetic)
    num_instances: int = COCO_INSTANCES_PER_IMAGE
    mask_type: str = 'auto'                       # 'auto' | 'bitmap' | 'polygon'
    amp: bool = False
    amp_dtype: str = 'bfloat16'                   # 'bfloat16' | 'float16'
    cudnn_benchmark: bool = False
    channels_last: bool = False
    compile_backbone: bool = False                # torch.compile backbone + neck
    fast_cpu_ops: bool = False                    # what FastCPUOpsHook does
    scale_down: bool = False
    scale_factor: int = 8
    stages: bool = True
    num_workers: Optional[int] = None             # real input only
    cfg_options: Optional[dict] = None
    seed: int = 0
    extra: dict = field(default_factory=dict)


def pipeline_mask_type(cfg) -> str:
    """'polygon' when the config's training pipeline keeps polygons
    (``LoadAnnotations(poly2mask=False)``), else 'bitmap' (the default)."""
    from .data_bench import find_train_pipeline
    try:
        pipeline = find_train_pipeline(cfg)
    except KeyError:
        return 'bitmap'
    for t in pipeline:
        if isinstance(t, dict) and str(t.get('type', '')).endswith('LoadAnnotations') \
                and t.get('with_mask') and t.get('poly2mask', True) is False:
            return 'polygon'
    return 'bitmap'


def _sync_fn(device: torch.device):
    if device.type == 'cuda':
        return torch.cuda.synchronize
    return lambda: None


class TrainBench:
    """One config's training step, ready to be timed."""

    def __init__(self, config: str, opts: TrainBenchOptions):
        register_modules()
        self.config = config
        self.opts = dataclasses.replace(opts)  # a config may switch its amp on
        cfg = load_config(config, opts.cfg_options)
        self.cfg = cfg
        self.device = torch.device(opts.device)
        self.sync = _sync_fn(self.device)
        if self.device.type == 'cuda':
            torch.backends.cudnn.benchmark = opts.cudnn_benchmark
        torch.manual_seed(opts.seed)

        from mmdet.registry import MODELS
        from mmengine.config import ConfigDict
        model_cfg = ConfigDict(copy.deepcopy(cfg.model))
        if opts.scale_down:
            from ..models.scale_down import scale_down_model_cfg
            model_cfg = ConfigDict(scale_down_model_cfg(model_cfg, opts.scale_factor))
        self.model = MODELS.build(model_cfg).to(self.device)
        from mmscratch.engine.hooks.channels_last_hook import convert_to_channels_last
        from mmscratch.engine.hooks.fast_cpu_ops_hook import use_fast_cpu_ops
        from mmscratch.utils.config_facts import has_custom_hook
        if has_custom_hook(cfg, 'ChannelsLastHook'):
            self.opts.channels_last = True  # the config trains in NHWC: benchmark it so
        if self.opts.channels_last:
            convert_to_channels_last(self.model)  # what ChannelsLastHook does
        if has_custom_hook(cfg, 'FastCPUOpsHook'):
            self.opts.fast_cpu_ops = True
        if self.opts.fast_cpu_ops:
            use_fast_cpu_ops(self.model)  # what FastCPUOpsHook does
        self.model.train()
        self.num_classes = self._num_classes(model_cfg)

        self.optim_wrapper = self._build_optim_wrapper(cfg)
        self.mask_type = opts.mask_type if opts.mask_type != 'auto' else pipeline_mask_type(cfg)
        self._build_inputs(cfg)
        if opts.compile_backbone:
            # in place (nn.Module.compile): the modules stay where the model
            # looks for them; per-stage timers would break the graphs
            self.model.backbone.compile()
            if getattr(self.model, 'neck', None) is not None:
                self.model.neck.compile()
            self.opts.stages = False
        self.timer = StageTimer(self.model, self.sync) if self.opts.stages else None
        self.memory = MemoryMeter(opts.device)
        self.records: List[dict] = []
        self.seen_shape = None

    # -- construction ---------------------------------------------------
    @staticmethod
    def _num_classes(model_cfg) -> int:
        roi = model_cfg.get('roi_head') or {}
        head = roi.get('bbox_head') or model_cfg.get('bbox_head') or {}
        if isinstance(head, (list, tuple)):
            head = head[0]
        return int(head.get('num_classes', 80))

    def _build_optim_wrapper(self, cfg):
        from mmengine.optim import build_optim_wrapper
        ow = copy.deepcopy(cfg.get('optim_wrapper') or dict(
            optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4)))
        cfg_type = ow.pop('type', 'OptimWrapper')
        cfg_dtype = ow.pop('dtype', None)
        ow.pop('loss_scale', None)
        ow.pop('fp32_islands', None)
        if not self.opts.amp and cfg_type in ('BF16OptimWrapper', 'AmpOptimWrapper'):
            # the config trains with autocast: benchmark it as it trains
            self.opts.amp = True
            self.opts.amp_dtype = ('bfloat16' if cfg_type == 'BF16OptimWrapper'
                                   else str(cfg_dtype or 'float16'))
        if not self.opts.amp:
            ow['type'] = 'OptimWrapper'
        elif self.opts.amp_dtype == 'bfloat16':
            # mmscratch's wrapper: no loss scaling, fp32 heads/RoI extractors,
            # and it runs on CPU as well as CUDA
            ow['type'] = 'BF16OptimWrapper'
        elif self.device.type == 'cuda':
            ow.update(type='AmpOptimWrapper', dtype='float16')  # dynamic loss scaling
        else:
            raise ValueError('--amp-dtype float16 needs --device cuda '
                             '(CPU autocast is bfloat16 only)')
        ow['optimizer']['lr'] = 0.0  # see the module docstring
        # paramwise_cfg logs one INFO line per parameter: noise in a benchmark
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            return build_optim_wrapper(self.model, ow)
        finally:
            logger.setLevel(level)

    def _build_inputs(self, cfg) -> None:
        opts = self.opts
        if opts.input == 'synthetic':
            self.batch_size = opts.batch_size or 2
            # Built once: making 1333x800 images and masks is not what is timed.
            self._batch = make_train_batch(self.batch_size, tuple(opts.image_size),
                                           opts.num_instances, self.num_classes,
                                           self.mask_type, opts.seed)
            self._iter = None
        elif opts.input == 'real':
            from mmengine.runner import Runner
            loader_cfg = copy.deepcopy(cfg.train_dataloader)
            if opts.batch_size:
                loader_cfg['batch_size'] = opts.batch_size
            if opts.num_workers is not None:
                loader_cfg['num_workers'] = opts.num_workers
            if not loader_cfg.get('num_workers'):
                loader_cfg['persistent_workers'] = False
            self.batch_size = loader_cfg['batch_size']
            self._loader = Runner.build_dataloader(loader_cfg, seed=opts.seed)
            self._iter = iter(self._loader)
        else:
            raise ValueError(f"input must be 'synthetic' or 'real', got {opts.input!r}")

    # -- one iteration --------------------------------------------------
    def _next_batch(self) -> dict:
        if self._iter is None:
            return self._batch
        try:
            return next(self._iter)
        except StopIteration:
            self._iter = iter(self._loader)
            return next(self._iter)

    def _forward_context(self):
        stack = contextlib.ExitStack()
        # the optimizer wrapper enters autocast (BF16OptimWrapper, AmpOptimWrapper)
        stack.enter_context(self.optim_wrapper.optim_context(self.model))
        return stack

    def step(self, record: bool = True) -> dict:
        """One training iteration; returns (and with ``record`` keeps) its times."""
        model, timer, sync = self.model, self.timer, self.sync
        if self.device.type == 'cuda':
            # a process-wide flag: set per step, so alternating benches keep their own
            torch.backends.cudnn.benchmark = self.opts.cudnn_benchmark
        sync()
        t0 = time.perf_counter()
        data = self._next_batch()
        t_data = time.perf_counter()
        stage_extra = {}
        with self._forward_context():
            data = model.data_preprocessor(data, True)
            sync()
            t_pre = time.perf_counter()
            losses = model._run_forward(data, mode='loss')
        parsed, _ = model.parse_losses(losses)
        sync()
        t_fwd = time.perf_counter()
        self.optim_wrapper.backward(parsed)
        sync()
        t_bwd = time.perf_counter()
        self.optim_wrapper.step()
        self.optim_wrapper.zero_grad()
        sync()
        t_end = time.perf_counter()

        if timer is not None:
            timer.add('preprocess', t_pre - t_data)
            # everything in the loss call outside the hooked module forwards
            timer.add('loss_targets', max(0.0, (t_fwd - t_pre) - timer.forward_seconds()))
            timer.add('backward', t_bwd - t_fwd)
            timer.add('optimizer_step', t_end - t_bwd)
            stage_extra = timer.pop()
        if not torch.isfinite(parsed.detach()).all():
            raise FloatingPointError(f'{self.config}: loss is {parsed.item()}')
        rec = dict(total_s=t_end - t0, data_s=t_data - t0, stages=stage_extra,
                   images=len(data['data_samples']))
        shape = data['data_samples'][0].metainfo.get('batch_input_shape')
        if shape is not None:
            self.seen_shape = [int(shape[1]), int(shape[0])]
        if record:
            self.records.append(rec)
        return rec

    # -- result ---------------------------------------------------------
    def result(self, warmup_iters: int) -> dict:
        """The JSON-ready summary of the recorded iterations."""
        recs = self.records
        if not recs:
            raise RuntimeError('no measured iterations')
        totals = [r['total_s'] for r in recs]
        data_mean = sum(r['data_s'] for r in recs) / len(recs)
        mean_total = sum(totals) / len(totals)
        stages = {}
        if recs[0]['stages']:
            stages = {k: sum(r['stages'][k] for r in recs) / len(recs)
                      for k in recs[0]['stages']}
        opts = self.opts
        return dict(
            config=self.config,
            device=str(self.device) + (f' ({torch.cuda.get_device_name(self.device)})'
                                       if self.device.type == 'cuda' else ''),
            mode='train',
            input=opts.input,
            image_size=list(opts.image_size) if opts.input == 'synthetic' else self.seen_shape,
            batch_size=self.batch_size,
            warmup_iters=warmup_iters,
            iters=len(recs),
            s_per_iter=time_stats(totals),
            images_per_s=sum(r['images'] for r in recs) / sum(totals),
            data_time_s=data_mean,
            compute_time_s=mean_total - data_mean,
            peak_mem_mb=round(self.memory.peak_mb, 1),
            stages_s=stages,
            versions=versions(),
            cudnn_benchmark=bool(opts.cudnn_benchmark and self.device.type == 'cuda'),
            amp=opts.amp_dtype if opts.amp else False,
            optim_wrapper=type(self.optim_wrapper).__name__,
            channels_last=opts.channels_last,
            compile_backbone=opts.compile_backbone,
            fast_cpu_ops=opts.fast_cpu_ops,
            scale_down=opts.scale_factor if opts.scale_down else False,
            mask_type=self.mask_type,
            instances_per_image=opts.num_instances if opts.input == 'synthetic' else None,
            model=type(self.model).__name__,
            num_params=sum(p.numel() for p in self.model.parameters()),
            torch_threads=torch.get_num_threads(),
        )
