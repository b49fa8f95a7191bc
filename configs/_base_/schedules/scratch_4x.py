# The paper's 4x schedule: 360k iterations at batch 16, LR x0.1 at 300k and 340k
# (computed from `multiple` by the paper's rule; see scratch_1x.py).
_base_ = './scratch_1x.py'

train_cfg = dict(schedule=dict(multiple=4))
