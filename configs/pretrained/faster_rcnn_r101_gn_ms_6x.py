# The paper's pretrained enhanced baseline: faster_rcnn_r101_gn_ms_9x.py trained 6x
# instead of 9x (the paper's pretrained models gain nothing from longer schedules):
# the 6x schedule (540k iterations at batch 16, LR x0.1 at 480k and 520k).
# No published result for this exact setting (configs/pretrained/README.md lists the
# ones that exist).
_base_ = './faster_rcnn_r101_gn_ms_9x.py'

train_cfg = dict(schedule=dict(multiple=6))
