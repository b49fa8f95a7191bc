"""The names of mmscratch's configs, taken apart: the one grammar of config names.

``<arch>_<depth>_<norm>[_ms|_lsj][_<N>x|_<E>e][_bf16|_detectron_init][_<N>k][_scratch|_pretrained]``,
e.g. ``mask_rcnn_r50_gn_6x``, ``cascade_mask_rcnn_r101_syncbn_ms_9x``,
``mask_rcnn_r50_syncbn_lsj_100e``, ``mask_rcnn_r50_gn_3x_detectron_init``,
``mask_rcnn_r50_gn_10k_scratch``. The comparison tables, the paper's
reference numbers, the model index and the config tests all read names here.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Optional

_NAME_RE = re.compile(
    r'^(?P<arch>cascade_mask_rcnn|mask_rcnn|faster_rcnn)'
    r'_(?P<depth>r50|r101|x101|x152)'
    r'_(?P<norm>gn|syncbn)'
    r'(?:_(?P<aug>ms|lsj))?'
    r'(?:_(?P<schedule>\d+(?:\.\d+)?x|\d+e))?'
    # a variant of the same recipe: bf16 autocast (speed), Detectron's backbone init
    r'(?P<variant>_bf16|_detectron_init)?'
    r'(?:_(?P<data>\d+(?:\.\d+)?k))?'
    r'(?:_(?P<arm>scratch|pretrained))?$')

_ARCH_NAMES = {'mask_rcnn': 'Mask R-CNN', 'faster_rcnn': 'Faster R-CNN',
               'cascade_mask_rcnn': 'Cascade Mask R-CNN'}


@dataclasses.dataclass(frozen=True)
class ConfigKey:
    """A config name taken apart; fields are ``None`` where the name is silent."""

    name: str
    arch: Optional[str] = None
    depth: Optional[str] = None
    norm: Optional[str] = None
    aug: Optional[str] = None
    schedule: Optional[str] = None
    data: Optional[int] = None
    arm: Optional[str] = None
    variant: Optional[str] = None

    @property
    def parsed(self) -> bool:
        return self.arch is not None

    @property
    def model(self) -> str:
        """Row label: 'Mask R-CNN R50 GN (ms)', or the bare name of another config."""
        if not self.parsed:
            return re.sub(r'_(scratch|pretrained)$', '', self.name)
        norm = {'gn': 'GN', 'syncbn': 'SyncBN'}[self.norm]
        text = f'{_ARCH_NAMES[self.arch]} {self.depth.upper()} {norm}'
        return text + (f' ({self.aug})' if self.aug else '')


def parse_config_name(name: str) -> ConfigKey:
    """Parse ``[scratch/|pretrained/]<arch>_<depth>_<norm>[_aug][_Nx|_Ne][_variant][_Nk][_arm]``.

    A leading ``scratch/`` or ``pretrained/`` folder (as in ``configs/``)
    sets the arm. Names of other configs give a key with only ``name`` (and
    ``arm`` when they end in ``_scratch``/``_pretrained``).
    """
    base = name[:-3] if name.endswith('.py') else name
    parts = base.replace('\\', '/').split('/')
    folder_arm = parts[-2] if len(parts) > 1 and parts[-2] in ('scratch', 'pretrained') else None
    stem = parts[-1]
    match = _NAME_RE.match(stem)
    if not match:
        tail = re.search(r'_(scratch|pretrained)$', stem)
        return ConfigKey(name=stem, arm=folder_arm or (tail.group(1) if tail else None))
    g = match.groupdict()
    data = None
    if g['data']:
        data = int(round(float(g['data'][:-1]) * 1000))
    return ConfigKey(name=stem, arch=g['arch'], depth=g['depth'], norm=g['norm'],
                     aug=g['aug'], schedule=g['schedule'], data=data,
                     arm=folder_arm or g['arm'],
                     variant=g['variant'][1:] if g['variant'] else None)
