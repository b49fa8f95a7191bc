# The paper's 6x schedule: 540k iterations at batch 16, LR x0.1 at 480k and 520k
# (computed from `multiple` by the paper's rule; see scratch_1x.py).
_base_ = './scratch_1x.py'

train_cfg = dict(schedule=dict(multiple=6))
