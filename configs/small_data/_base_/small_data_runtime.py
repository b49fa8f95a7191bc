# configs/_base_/scratch_runtime.py with the small-data regimes' denser convergence
# curve: 24 evaluation points per schedule (about every 1/20 of it, plus each LR drop
# and a point after it). Small subsets overfit and the paper reports the best AP along
# training, so the curve must be dense enough to catch the peak. The hook lists are
# derived from the runtime's (MMEngine replaces lists whole, so they are rebuilt, not
# merged); the pretrained twins take pretrained_custom_hooks, as configs/pretrained/* do.
_base_ = '../../_base_/scratch_runtime.py'

__curve_points = 24
scratch_custom_hooks = [
    dict(h, num_points=__curve_points) if h['type'] == 'ConvergenceCurveHook' else dict(h)
    for h in _base_.scratch_custom_hooks]
pretrained_custom_hooks = [
    dict(h) for h in scratch_custom_hooks if h['type'] != 'ScratchGuardHook']
custom_hooks = [dict(h) for h in scratch_custom_hooks]
