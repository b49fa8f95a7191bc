# The paper's 2x schedule: 180k iterations at batch 16, LR x0.1 at 120k and 160k
# (computed from `multiple` by the paper's rule; see scratch_1x.py).
_base_ = './scratch_1x.py'

train_cfg = dict(schedule=dict(multiple=2))
