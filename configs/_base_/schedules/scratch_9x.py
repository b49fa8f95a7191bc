# The paper's 9x schedule: 810k iterations at batch 16, LR x0.1 at 750k and 790k
# (computed from `multiple` by the paper's rule; see scratch_1x.py).
_base_ = './scratch_1x.py'

train_cfg = dict(schedule=dict(multiple=9))
