"""``tools/test.py --tta``: evaluate with the config's test-time augmentation.

MMDetection's mechanism, as its own ``tools/test.py --tta`` applies it: the
config's ``tta_model`` wraps its ``model`` and its ``tta_pipeline`` replaces
the test pipeline. Differences, each on purpose:

* a mask model with ``type='DetTTAModel'`` is refused: MMDetection 3.3's
  ``DetTTAModel`` stops on instance masks, and evaluating boxes only would
  report a number that is not the model's segm result. mmscratch's
  ``DetMaskTTAModel`` merges masks too (``mmscratch.models.tta``); it is the
  default when the config has no ``tta_model``;
* every view of the TTA pipeline must carry ``flip`` and ``flip_direction``
  in the samples' meta (a RandomFlip, and PackDetInputs keeping the keys), or
  the merge cannot flip the boxes back: refused with what is missing named;
* the pipeline is replaced in the innermost dataset (a wrapped test set keeps
  its wrapper), and the number of views per image is logged.
"""
from __future__ import annotations

import copy
import itertools
import logging
from typing import List

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from ..utils.config_facts import type_name

#: Used when a config has no ``tta_model``: Detectron's merge NMS of 0.5, 100 boxes.
DEFAULT_TTA_MODEL = dict(
    type='DetMaskTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
FLIP_META_KEYS = ('flip', 'flip_direction')


def _has_masks(model_cfg) -> bool:
    roi_head = (model_cfg or {}).get('roi_head') or {}
    return bool(roi_head.get('mask_head')) if isinstance(roi_head, dict) else False


def _innermost_dataset(dataset_cfg):
    while isinstance(dataset_cfg, dict) and isinstance(dataset_cfg.get('dataset'), dict):
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def _flip_only_pipeline(test_pipeline: list) -> list:
    """MMDetection's fallback: the test pipeline with its packing step replaced by
    a flip / no-flip TestTimeAug (one scale, two views)."""
    pipeline = copy.deepcopy(list(test_pipeline))
    if not pipeline or type_name(pipeline[-1]) != 'PackDetInputs':
        raise ValueError('--tta: the config has no tta_pipeline and its test pipeline does not '
                         'end with PackDetInputs; add a tta_pipeline to the config')
    pipeline[-1] = dict(type='TestTimeAug', transforms=[
        [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
        [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                               'scale_factor') + FLIP_META_KEYS)]])
    return pipeline


def tta_views(tta_pipeline: list) -> List[List[dict]]:
    """The views a TTA pipeline makes of each image: one transform list per view."""
    for step in tta_pipeline:
        if type_name(step) == 'TestTimeAug':
            return [list(combo) for combo in itertools.product(*step['transforms'])]
    return []


def check_tta_pipeline(tta_pipeline) -> List[List[dict]]:
    """The pipeline's views; a ``ValueError`` for a pipeline the merge would misread."""
    if not isinstance(tta_pipeline, (list, tuple)):
        raise ValueError(f'tta_pipeline must be a list of transforms, got '
                         f'{type(tta_pipeline).__name__}')
    views = tta_views(list(tta_pipeline))
    if not views:
        raise ValueError('tta_pipeline has no TestTimeAug step: there is nothing to merge')
    for view in views:
        packs = [t for t in view if type_name(t) == 'PackDetInputs']
        if not packs:
            raise ValueError('every tta_pipeline view must end with PackDetInputs')
        # DetTTAModel reads every view's flip and flip_direction to flip its boxes
        # back: RandomFlip (prob 1 or 0) sets them, PackDetInputs must keep them
        if not any(type_name(t) == 'RandomFlip' for t in view):
            raise ValueError('every tta_pipeline view needs a RandomFlip (prob=1. or 0.): the '
                             'merge reads its flip / flip_direction; e.g. transforms=[[Resize '
                             '...], [RandomFlip prob=1., RandomFlip prob=0.], [PackDetInputs]]')
        meta_keys = packs[-1].get('meta_keys')
        missing = [k for k in FLIP_META_KEYS if meta_keys is not None and k not in meta_keys]
        if missing:
            raise ValueError(
                f'tta_pipeline: PackDetInputs meta_keys lack {missing}: the merge could not '
                'flip the boxes back; add them to meta_keys')
    return views


def enable_tta(cfg: Config) -> int:
    """Wrap ``cfg.model`` in ``cfg.tta_model`` and test on ``cfg.tta_pipeline``.

    Returns the number of views per image. Raises ``ValueError`` for a mask
    model wrapped in MMDetection's box-only ``DetTTAModel`` and for a TTA
    pipeline whose flips could not be undone.
    """
    tta_model = cfg.get('tta_model')
    if tta_model is None:
        print_log('--tta: the config has no tta_model; using DetMaskTTAModel (NMS 0.5, 100 '
                  'boxes per image)', logger='current', level=logging.WARNING)
        tta_model = copy.deepcopy(DEFAULT_TTA_MODEL)
    if type_name(tta_model) == 'DetTTAModel' and _has_masks(cfg.model):
        raise ValueError(
            "tta_model type='DetTTAModel': MMDetection 3.3's DetTTAModel merges boxes only "
            "and stops on instance masks, so this mask model's segm AP cannot be computed "
            "with it. Use type='DetMaskTTAModel' (mmscratch: boxes merged as DetTTAModel, "
            'masks averaged over the views)')
    tta_pipeline = cfg.get('tta_pipeline')
    dataset = _innermost_dataset(cfg.test_dataloader.dataset)
    if tta_pipeline is None:
        print_log('--tta: the config has no tta_pipeline; using the test pipeline with '
                  'horizontal flip (2 views per image)', logger='current', level=logging.WARNING)
        tta_pipeline = _flip_only_pipeline(dataset.pipeline)
    views = check_tta_pipeline(tta_pipeline)
    cfg.model = ConfigDict(**tta_model, module=cfg.model)
    dataset.pipeline = copy.deepcopy(tta_pipeline)
    print_log(f'--tta: {type_name(tta_model)}, {len(views)} views per image', logger='current')
    return len(views)
