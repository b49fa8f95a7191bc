"""The small-data regimes: the paper's settings and the values it leaves open.

The paper trains R50-FPN GN Mask R-CNN on random 35k, 10k, 3.5k and 1k image
subsets of COCO train2017, with hyper-parameters grid-searched on the
pretrained model and reused for scratch. What it states (PAPER_RECIPE.md):

* 35k: train-time scale augmentation (shorter side from [512, 800]), LR 0.04,
  "LR decay factor 0.02";
* 10k: the pretrained model is best at 60k iterations, scratch at 220k;
* 3.5k and 1k: only the APs.

What we chose where it is silent (each config says it too; the reasons are
in docs/small_data.md):

* **LR decay factor 0.02** is read as Detectron's ``SOLVER.GAMMA`` (the
  documented name of that setting is "LR decay factor"): the LR is
  multiplied by 0.02 at each of the two drops, instead of the usual 0.1.
* **10k, 3.5k, 1k** reuse the 35k hyper-parameters (scale augmentation,
  LR 0.04, gamma 0.02): the paper gives no other values for them.
* **Schedule lengths** the paper does not give (35k, 3.5k, 1k) are
  interpolated log-linearly in the training-set size between the paper's
  10k lengths (pretrained 60k, scratch 220k) and its full-COCO best
  schedules (pretrained 3x = 270k, where its AP saturates; scratch 6x =
  540k), rounded to 5k (:func:`interpolated_iters`).
* **LR drops** follow the paper's rule (x gamma at the last 60k and last 20k
  iterations) for schedules of at least 90k iterations; shorter ones keep
  the 1x shape, the drops shrunk with the length ((60k, 20k) x total / 90k):
  :func:`mmscratch.recipe.schedule.paper_drops`.
* **Evaluation density**: 24 points per schedule (about every 1/20 of it,
  plus each LR drop and a point after it), so the peak before overfitting
  is caught; the reported AP is the best along the curve, as in the paper.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Tuple

from ..recipe.schedule import ITERS_PER_1X, paper_drops

#: The 35k hyper-parameters, reused for every regime.
SMALL_DATA_LR = 0.04
SMALL_DATA_GAMMA = 0.02
SCALE_AUG_SHORT_SIDE = (512, 800)
EVAL_POINTS = 24

#: Anchors of the length interpolation: (images, pretrained iters, scratch iters).
_ANCHOR_10K = (10_000, 60_000, 220_000)
_ANCHOR_FULL = (118_287, 3 * ITERS_PER_1X, 6 * ITERS_PER_1X)


def interpolated_iters(images: int, arm: str, round_to: int = 5_000) -> int:
    """Schedule length for a regime the paper gives none for (see module doc).

    Log-linear in the number of images through the 10k and full-COCO anchors.
    """
    index = {'pretrained': 1, 'scratch': 2}[arm]
    x0, x1 = math.log(_ANCHOR_10K[0]), math.log(_ANCHOR_FULL[0])
    y0, y1 = math.log(_ANCHOR_10K[index]), math.log(_ANCHOR_FULL[index])
    y = y0 + (y1 - y0) * (math.log(images) - x0) / (x1 - x0)
    return int(round(math.exp(y) / round_to)) * round_to


@dataclasses.dataclass(frozen=True)
class Regime:
    """One small-data regime: its subset size and each arm's schedule length.

    ``stated`` says which lengths come from the paper; the others are
    :func:`interpolated_iters`.
    """

    images: int
    tag: str
    pretrained_iters: int
    scratch_iters: int
    stated: Tuple[str, ...] = ()

    def iters(self, arm: str) -> int:
        return self.pretrained_iters if arm == 'pretrained' else self.scratch_iters

    def schedule(self, arm: str) -> dict:
        """``train_cfg.schedule`` of a config of this regime (batch 16)."""
        total = self.iters(arm)
        return dict(total_iters=total, drops_before_end=paper_drops(total),
                    gamma=SMALL_DATA_GAMMA)


def _regime(images: int, tag: str) -> Regime:
    if images == _ANCHOR_10K[0]:
        return Regime(images, tag, _ANCHOR_10K[1], _ANCHOR_10K[2],
                      stated=('pretrained', 'scratch'))
    return Regime(images, tag, interpolated_iters(images, 'pretrained'),
                  interpolated_iters(images, 'scratch'))


REGIMES: Dict[str, Regime] = {tag: _regime(n, tag) for n, tag in
                              ((35_000, '35k'), (10_000, '10k'), (3_500, '3.5k'),
                               (1_000, '1k'))}
