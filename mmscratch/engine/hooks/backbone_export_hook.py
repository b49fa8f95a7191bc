"""``BackboneExportHook``: write the trained backbone for a detector to load.

When it runs: ``after_val_epoch`` (keeps the latest validation metrics) and
``after_train`` (main process), once training has ended.

What it changes: nothing in training. It writes ``WORK_DIR/<filename>``
(default ``backbone.pth``): the weights of ``model.<module>`` in
MMDetection's backbone key layout (:mod:`mmscratch.checkpoint.backbone_export`:
no prefix, no classifier head; loaded by ``init_cfg=dict(type='Pretrained',
checkpoint=...)`` with no missing or unexpected key), as plain data that the
safe loader reads; and ``<filename stem>.json`` beside it: where the weights
come from (config, backbone config, iterations, batch, images seen, the
training set's generation parameters and class count, the last validation
metrics, the file's sha256), which ``tools/data_budget.py --pretrain-config``
and ``tools/mini_paper.py`` read. Both are replaced atomically, so a reader
never sees half a file.
"""
from __future__ import annotations

import json
import os.path as osp
from typing import Optional

from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ...checkpoint.backbone_export import backbone_state_dict, save_backbone_checkpoint
from ...utils.atomic_io import atomic_write_text
from ..runner.scratch_loop import images_per_device


def _plain(value):
    """A config value as JSON data (ConfigDicts, tuples)."""
    return json.loads(json.dumps(value.to_dict() if hasattr(value, 'to_dict') else value,
                                 default=str))


@HOOKS.register_module()
class BackboneExportHook(Hook):
    """Export ``model.<module>`` after training (see the module docstring).

    Args:
        filename: the checkpoint's name in the work dir.
        module: attribute of the model to export.
    """

    priority = 'LOW'

    def __init__(self, filename: str = 'backbone.pth', module: str = 'backbone'):
        if osp.basename(filename) != filename or not filename.endswith('.pth'):
            raise ValueError(f'filename must be a plain *.pth name, got {filename!r}')
        self.filename = filename
        self.module = module
        self.metrics: Optional[dict] = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics:
            self.metrics = {k: float(v) for k, v in metrics.items()
                            if isinstance(v, (int, float))}

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        module = getattr(model, self.module, None)
        if module is None:
            raise ValueError(f'BackboneExportHook: the model has no {self.module!r}')
        cfg = runner.cfg
        loop = runner.train_loop
        batch = images_per_device(loop.dataloader) * get_world_size()
        dataset = loop.dataloader.dataset
        metainfo = getattr(dataset, 'metainfo', {}) or {}
        filename = getattr(cfg, 'filename', None)
        meta = dict(
            config_name=osp.splitext(osp.basename(filename))[0] if filename else None,
            module=self.module,
            backbone=_plain(cfg.model.get(self.module)),
            iterations=int(runner.iter),
            batch_size=int(batch),
            images_seen=int(runner.iter) * int(batch),
            train_images=len(dataset),
            num_classes=len(metainfo.get('classes') or ()),
            dataset_params=_plain(metainfo.get('mmscratch_params')),
            val_metrics=self.metrics)
        path = osp.join(runner.work_dir, self.filename)
        meta['sha256'] = save_backbone_checkpoint(path, backbone_state_dict(module),
                                                  {k: v for k, v in meta.items()
                                                   if v is not None})
        atomic_write_text(osp.splitext(path)[0] + '.json', json.dumps(meta, indent=1))
        runner.logger.info(f'BackboneExportHook: {self.module} weights -> {path}')
