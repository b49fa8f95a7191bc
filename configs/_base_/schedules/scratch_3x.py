# The paper's 3x schedule: 270k iterations at batch 16, LR x0.1 at 210k and 250k
# (computed from `multiple` by the paper's rule; see scratch_1x.py).
_base_ = './scratch_1x.py'

train_cfg = dict(schedule=dict(multiple=3))
