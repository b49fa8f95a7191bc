# The paper's 5x schedule: 450k iterations at batch 16, LR x0.1 at 390k and 430k
# (computed from `multiple` by the paper's rule; see scratch_1x.py).
_base_ = './scratch_1x.py'

train_cfg = dict(schedule=dict(multiple=5))
