"""The paper's numbers, written down once (He, Girshick, Dollar, ICCV 2019).

Source: "Rethinking ImageNet Pre-training" (arXiv 1811.08883), as collected in
the project's PAPER_RECIPE.md. Every AP is COCO val2017, in percent; all
COCO results are Mask R-CNN with a ResNet-FPN backbone and GroupNorm, trained
at batch 16 with the paper's schedule rule. Tables and plots look numbers up
here (:func:`reference_ap`) instead of copying them.

What is *not* here, on purpose: Faster R-CNN, SyncBN, scale-augmented and
Cascade variants have no single number in the paper that matches one of our
configs (SyncBN results exist only as curves), so a lookup for them
returns ``None`` rather than a number from a different setting.

:func:`config_references` is the one place that says which published number
each of our configs corresponds to -- the paper's, the reference
implementation's own result for the same config (Detectron's GN project), and
what peers report for their version of it (detectron2, MMDetection) -- each
with the file it comes from and how that run differs from ours.
``tools/gen_model_index.py`` writes the config folders' README.md and
metafile.yml from it; nothing else copies a number.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

from .config_names import parse_config_name

#: Box AP per schedule (the paper's R50/R101 GN results). Key: (depth, arm).
BOX_AP_BY_SCHEDULE: Dict[Tuple[str, str], Dict[str, float]] = {
    ('r50', 'scratch'): {'2x': 36.8, '3x': 39.5, '4x': 40.6, '5x': 40.7, '6x': 41.3},
    ('r50', 'pretrained'): {'2x': 40.3, '3x': 40.8, '4x': 40.9, '5x': 40.9, '6x': 41.1},
    ('r101', 'scratch'): {'2x': 38.2, '3x': 41.0, '4x': 41.8, '5x': 42.2, '6x': 42.7},
    ('r101', 'pretrained'): {'2x': 41.8, '3x': 42.3, '4x': 42.3, '5x': 41.9, '6x': 42.2},
}

#: Best schedule of each model, box / mask AP. The mask AP is only given for
#: these; R101 pretrained reaches 42.3 box AP at both 3x and 4x, so its
#: schedule (and therefore which run its 37.2 mask AP belongs to) is ambiguous.
BEST: Dict[Tuple[str, str], dict] = {
    ('r50', 'scratch'): dict(schedules=('6x',), bbox=41.3, segm=36.6),
    ('r50', 'pretrained'): dict(schedules=('6x',), bbox=41.1, segm=36.4),
    ('r101', 'scratch'): dict(schedules=('6x',), bbox=42.7, segm=37.6),
    ('r101', 'pretrained'): dict(schedules=('3x', '4x'), bbox=42.3, segm=37.2),
}

#: Small-data regimes (the paper's "training with less data" study): box AP
#: of R50-FPN GN Mask R-CNN on random COCO train2017 subsets, hyper-parameters
#: grid-searched on the pretrained model and reused for scratch. The 10k
#: numbers are each model at its best length (pretrained 60k, scratch 220k).
SMALL_DATA: Dict[int, dict] = {
    35_000: dict(pretrained=36.3, scratch=36.3,
                 setting='scale aug [512, 800], LR 0.04, LR decay factor 0.02'),
    10_000: dict(pretrained=26.0, scratch=25.9,
                 setting='pretrained best at 60k iterations, scratch at 220k',
                 best_iters=dict(pretrained=60_000, scratch=220_000)),
    3_500: dict(pretrained=16.0, scratch=9.3, setting=''),
    1_000: dict(pretrained=9.9, scratch=3.5, scratch_tuned=5.4,
                setting='scratch 5.4 AP with hyper-parameters tuned for it'),
}

#: PASCAL VOC (mAP): pretrained 18k iterations vs scratch 144k.
VOC = dict(pretrained=82.7, scratch=77.6, iters=dict(pretrained=18_000, scratch=144_000))

ARMS = ('scratch', 'pretrained')


def reference_ap(arch: Optional[str], depth: Optional[str], norm: Optional[str],
                 arm: str, schedule: Optional[str] = None, data: Optional[int] = None,
                 aug: Optional[str] = None) -> Dict[str, Optional[float]]:
    """The paper's ``bbox``/``segm`` AP for a setting, ``None`` where it has none.

    Args:
        arch: ``'mask_rcnn'`` (the only architecture with numbers).
        depth: ``'r50'`` or ``'r101'``.
        norm: ``'gn'`` (the only norm with numbers).
        arm: ``'scratch'`` or ``'pretrained'``.
        schedule: ``'2x'`` .. ``'6x'`` for full COCO.
        data: training-set size for the small-data regimes (35000, ...);
            ``None`` for full train2017.
        aug: train-time augmentation variant (``'ms'``, ``'lsj'``); the
            paper's table is without, so any variant has no reference.
    """
    none = dict(bbox=None, segm=None)
    if arm not in ARMS:
        raise ValueError(f'arm must be one of {ARMS}, got {arm!r}')
    if arch != 'mask_rcnn' or norm != 'gn' or aug:
        return none
    if data is not None:
        # Small-data numbers are R50 only; the regime sets its own schedule.
        if depth != 'r50' or data not in SMALL_DATA:
            return none
        return dict(bbox=SMALL_DATA[data][arm], segm=None)
    table = BOX_AP_BY_SCHEDULE.get((depth, arm))
    if table is None or schedule not in table:
        return none
    best = BEST[(depth, arm)]
    segm = best['segm'] if best['schedules'] == (schedule,) else None
    return dict(bbox=table[schedule], segm=segm)


def reference_markdown() -> str:
    """The paper's tables as Markdown (for docs and ``compare_runs --paper``)."""
    schedules = ['2x', '3x', '4x', '5x', '6x']
    lines = ['| model (box AP) | ' + ' | '.join(schedules) + ' |',
             '|---|' + '---|' * len(schedules)]
    for (depth, arm), row in BOX_AP_BY_SCHEDULE.items():
        init = 'random init' if arm == 'scratch' else 'pretrained'
        name = f'Mask R-CNN {depth.upper()} GN {init}'
        lines.append(f'| {name} | ' + ' | '.join(f'{row[s]:.1f}' for s in schedules) + ' |')
    lines += ['', '| training images | pretrained | scratch | setting |', '|---|---|---|---|']
    for size, row in SMALL_DATA.items():
        scratch = f'{row["scratch"]:.1f}'
        if 'scratch_tuned' in row:
            scratch += f' ({row["scratch_tuned"]:.1f} tuned)'
        lines.append(f'| {size:,} | {row["pretrained"]:.1f} | {scratch} | {row["setting"]} |')
    return '\n'.join(lines)


# --------------------------------------------------------------------------
# Which published number each config corresponds to
# --------------------------------------------------------------------------

PAPER_TITLE = 'Rethinking ImageNet Pre-training'
PAPER_URL = 'https://arxiv.org/abs/1811.08883'
PAPER_CITATION = 'He, Girshick, Dollar, "Rethinking ImageNet Pre-training", ICCV 2019'


@dataclasses.dataclass(frozen=True)
class Reference:
    """A published result that one of our configs corresponds to.

    Attributes:
        source: who published it (``'paper'``, ``'Detectron'``,
            ``'detectron2'``, ``'MMDetection'``).
        where: the document that reports the number.
        config: the config file that produced it, in its repository
            (``''`` when the source publishes none, as the paper).
        bbox, segm: COCO val2017 box / mask AP in percent (``None``: not
            reported).
        primary: the run our config was written to reproduce (the paper, or
            the reference implementation's own run of the same recipe); the
            metafiles report only these. Peers' versions of the recipe are
            listed beside them with ``note`` saying how they differ.
        note: how the run differs from our config ('' for none).
    """

    source: str
    where: str
    config: str
    bbox: Optional[float]
    segm: Optional[float]
    primary: bool
    note: str = ''

    def ap_text(self) -> str:
        """'41.3 / 36.6', '40.7 / -' ..."""
        return ' / '.join('-' if v is None else f'{v:.1f}' for v in (self.bbox, self.segm))


_PAPER_WHERE = 'the paper (arXiv 1811.08883), R50/R101 GN Mask R-CNN schedule comparison'
_PAPER_SMALL_WHERE = 'the paper (arXiv 1811.08883), training with fewer COCO images'
_DETECTRON_GN = 'Detectron projects/GN/README.md'
_D2_ZOO = 'detectron2 MODEL_ZOO.md'
_D2_MULTI_SCALE = ('multi-scale training (MIN_SIZE_TRAIN 640-800, from Base-RCNN-FPN.yaml), '
                   'so not comparable with the single-scale config here')

#: Detectron's own runs of the GN configs (projects/GN/README.md). Their box AP
#: equals the paper's at 2x/3x: these are the paper's runs, and they add the
#: mask AP the paper gives only for the best schedules. Key: (depth, arm, schedule).
DETECTRON_GN: Dict[Tuple[str, str, str], Tuple[str, float, float]] = {
    ('r50', 'pretrained', '2x'): ('configs/04_2018_gn_baselines/e2e_mask_rcnn_R-50-FPN_2x_gn.yaml',
                                  40.3, 35.7),
    ('r50', 'pretrained', '3x'): ('configs/04_2018_gn_baselines/e2e_mask_rcnn_R-50-FPN_3x_gn.yaml',
                                  40.8, 36.1),
    ('r101', 'pretrained', '2x'): (
        'configs/04_2018_gn_baselines/e2e_mask_rcnn_R-101-FPN_2x_gn.yaml', 41.8, 36.8),
    ('r101', 'pretrained', '3x'): (
        'configs/04_2018_gn_baselines/e2e_mask_rcnn_R-101-FPN_3x_gn.yaml', 42.3, 37.2),
    ('r50', 'scratch', '3x'): (
        'configs/04_2018_gn_baselines/scratch_e2e_mask_rcnn_R-50-FPN_3x_gn.yaml', 39.5, 35.2),
    ('r101', 'scratch', '3x'): (
        'configs/04_2018_gn_baselines/scratch_e2e_mask_rcnn_R-101-FPN_3x_gn.yaml', 41.0, 36.4),
}

#: Peers' published versions of our configs, keyed by ``folder/stem``.
PEERS: Dict[str, Tuple[Reference, ...]] = {
    'scratch/mask_rcnn_r50_gn_6x': (
        Reference('MMDetection', 'MMDetection 3.3 configs/scratch/metafile.yml',
                  'configs/scratch/mask-rcnn_r50-scratch_fpn_gn-all_6x_coco.py', 41.2, 37.4,
                  primary=False,
                  note='epoch-based approximation of 6x: 73 epochs, LR steps at epochs 65 and 71 '
                       '(the last drop ~15k iterations before the end, not 20k), warm-up from '
                       '0.001'),),
    'scratch/faster_rcnn_r50_gn_6x': (
        Reference('MMDetection', 'MMDetection 3.3 configs/scratch/metafile.yml',
                  'configs/scratch/faster-rcnn_r50-scratch_fpn_gn-all_6x_coco.py', 40.7, None,
                  primary=False,
                  note='epoch-based approximation of 6x: 73 epochs, LR steps at epochs 65 and '
                       '71, warm-up from 0.001'),),
    'scratch/mask_rcnn_r50_gn_3x': (
        Reference('detectron2', _D2_ZOO, 'configs/Misc/scratch_mask_rcnn_R_50_FPN_3x_gn.yaml',
                  39.9, 36.6, primary=False, note=_D2_MULTI_SCALE),),
    'scratch/mask_rcnn_r50_gn_ms_9x': (
        Reference('detectron2', _D2_ZOO,
                  'configs/Misc/scratch_mask_rcnn_R_50_FPN_9x_gn.yaml', 43.7, 39.6, primary=True,
                  note='the same images seen (202.5k iterations at batch 64, LR 0.08, steps '
                       '187.5k/197.5k); warm-up 1000 iterations from 0.001; scales 640-800 in '
                       'steps of 32; input divided by the ImageNet std'),),
    'scratch/mask_rcnn_r50_syncbn_ms_9x': (
        Reference('detectron2', _D2_ZOO,
                  'configs/Misc/scratch_mask_rcnn_R_50_FPN_9x_syncbn.yaml', 43.6, 39.3,
                  primary=True,
                  note='as the GN 9x run, and PreciseBN before evaluation (TEST.PRECISE_BN, '
                       'inherited from Misc/mask_rcnn_R_50_FPN_3x_syncbn.yaml)'),),
    'scratch/mask_rcnn_r50_syncbn_lsj_100e': (
        Reference('detectron2', _D2_ZOO,
                  'configs/new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py', 44.6, 40.3,
                  primary=True,
                  note="caffe-style backbone (stride_in_1x1=True, BGR input, std 1) and "
                       "NaiveSyncBatchNorm in the heads; ours is MMDetection's pytorch style"),
        Reference('MMDetection', 'MMDetection 3.3 configs/strong_baselines/metafile.yml',
                  'configs/strong_baselines/'
                  'mask-rcnn_r50-caffe_fpn_rpn-2conv_4conv1fc_syncbn-all_lsj-100e_coco.py',
                  44.7, 40.4, primary=False,
                  note='caffe-style backbone (style=caffe, BGR, std 1), MMSyncBN in the '
                       'heads, epoch-based (RepeatDataset)'),
    ),
    'scratch/mask_rcnn_r50_syncbn_lsj_400e': (
        Reference('detectron2', _D2_ZOO,
                  'configs/new_baselines/mask_rcnn_R_50_FPN_400ep_LSJ.py', 47.4, 42.5,
                  primary=True,
                  note="caffe-style backbone (stride_in_1x1=True, BGR input, std 1) and "
                       "NaiveSyncBatchNorm in the heads; ours is MMDetection's pytorch style"),),
    'pretrained/mask_rcnn_r50_gn_2x': (
        Reference('MMDetection', 'MMDetection 3.3 configs/gn/metafile.yml',
                  'configs/gn/mask-rcnn_r50_fpn_gn-all_2x_coco.py', 40.2, 36.4, primary=False,
                  note='24 epochs, LR steps at epochs 16 and 22, warm-up from 0.001'),),
    'pretrained/mask_rcnn_r50_gn_3x': (
        Reference('MMDetection', 'MMDetection 3.3 configs/gn/metafile.yml',
                  'configs/gn/mask-rcnn_r50_fpn_gn-all_3x_coco.py', 40.5, 36.7, primary=False,
                  note='36 epochs, LR steps at epochs 28 and 34, warm-up from 0.001'),
        Reference('detectron2', _D2_ZOO, 'configs/Misc/mask_rcnn_R_50_FPN_3x_gn.yaml',
                  42.6, 38.6, primary=False, note=_D2_MULTI_SCALE),
    ),
    'pretrained/mask_rcnn_r101_gn_2x': (
        Reference('MMDetection', 'MMDetection 3.3 configs/gn/metafile.yml',
                  'configs/gn/mask-rcnn_r101_fpn_gn-all_2x_coco.py', 41.9, 37.6, primary=False,
                  note='24 epochs, LR steps at epochs 16 and 22, warm-up from 0.001'),),
    'pretrained/mask_rcnn_r101_gn_3x': (
        Reference('MMDetection', 'MMDetection 3.3 configs/gn/metafile.yml',
                  'configs/gn/mask-rcnn_r101_fpn_gn-all_3x_coco.py', 42.1, 38.0, primary=False,
                  note='36 epochs, LR steps at epochs 28 and 34, warm-up from 0.001'),),
    'pretrained/mask_rcnn_r50_syncbn_3x': (
        Reference('detectron2', _D2_ZOO, 'configs/Misc/mask_rcnn_R_50_FPN_3x_syncbn.yaml',
                  41.9, 37.8, primary=False,
                  note=_D2_MULTI_SCALE + '; PreciseBN before evaluation'),),
}

#: Name suffix of a config that is another config with Detectron's backbone init.
DETECTRON_INIT_SUFFIX = '_detectron_init'


#: The schedules of the paper's R50/R101 GN table.
_PAPER_SCHEDULES = ('2x', '3x', '4x', '5x', '6x')


def _is_base(key, **fields) -> bool:
    """A key of the paper's Mask R-CNN GN grid with ``fields``, no augmentation
    or variant (same recipe as the paper's number)."""
    return (key.arch == 'mask_rcnn' and key.norm == 'gn' and key.aug is None
            and key.variant is None and all(getattr(key, k) == v for k, v in fields.items()))


def config_references(folder: str, stem: str) -> List[Reference]:
    """Every published number that ``configs/{folder}/{stem}.py`` corresponds to.

    The paper's number first (``primary``), then the reference
    implementation's own run of the same config (Detectron's GN project,
    ``primary``: same recipe, it adds the mask AP), then peers' versions with
    what differs. An empty list: nothing published matches the config (the
    Faster R-CNN, SyncBN, Cascade and pretrained-LSJ configs, mostly); a
    number from another setting is never borrowed.
    """
    if stem.endswith(DETECTRON_INIT_SUFFIX):
        # the same recipe with Detectron's backbone init: the same targets, and
        # Detectron's own run is now the same recipe in every respect
        return [dataclasses.replace(ref, note="the paper's own run: the same box AP, and the "
                                    "mask AP; the same backbone/FPN init as this config "
                                    "(Caffe2's XavierFill)")
                if ref.source == 'Detectron' else ref
                for ref in config_references(folder, stem[:-len(DETECTRON_INIT_SUFFIX)])]
    refs: List[Reference] = []
    key = parse_config_name(stem)
    if _is_base(key, data=None, arm=None) and key.depth in ('r50', 'r101') \
            and key.schedule in _PAPER_SCHEDULES and folder in ARMS:
        depth, schedule = key.depth, key.schedule
        ap = reference_ap('mask_rcnn', depth, 'gn', folder, schedule)
        refs.append(Reference('paper', _PAPER_WHERE, '', ap['bbox'], ap['segm'], primary=True))
        detectron = DETECTRON_GN.get((depth, folder, schedule))
        if detectron is not None:
            config, bbox, segm = detectron
            note = "the paper's own run: the same box AP, and the mask AP"
            if folder == 'scratch':
                note += ("; its backbone convs started from Caffe2's XavierFill, ours from "
                         'Kaiming normal fan_out unless configs/_base_/inits/detectron_init.py '
                         'is added')
            refs.append(Reference('Detectron', _DETECTRON_GN, config, bbox, segm, primary=True,
                                  note=note))
    if _is_base(key, depth='r50', schedule=None) and folder == 'small_data' \
            and key.data in SMALL_DATA and key.arm in ARMS:
        row = SMALL_DATA[key.data]
        note = ''
        if key.arm == 'scratch' and 'scratch_tuned' in row:
            note = (f'{row["scratch_tuned"]:.1f} with hyper-parameters tuned for scratch; '
                    'this config uses the pretrained model\'s, as the paper\'s main number')
        refs.append(Reference('paper', _PAPER_SMALL_WHERE, '', row[key.arm], None,
                              primary=True, note=note))
    refs.extend(PEERS.get(f'{folder}/{stem}', ()))
    return refs


def primary_results(refs: List[Reference]) -> Dict[str, Tuple[float, Reference]]:
    """The reproduction target per metric: ``{'bbox': (41.3, ref), 'segm': ...}``.

    The first ``primary`` reference that reports the metric; peers' numbers
    are never a target.
    """
    found: Dict[str, Tuple[float, Reference]] = {}
    for ref in refs:
        if not ref.primary:
            continue
        for metric in ('bbox', 'segm'):
            value = getattr(ref, metric)
            if value is not None and metric not in found:
                found[metric] = (value, ref)
    return found
