# The LSJ schedule of lsj_100e.py, 200 epochs: iterations, LR steps and warm-up x2
# (detectron2's mask_rcnn_R_50_FPN_200ep_LSJ.py: warm-up 1000 iterations).
_base_ = './lsj_100e.py'

lsj_epochs = 200
lsj_iters = _base_.lsj_iters_100e * lsj_epochs // 100
train_cfg = dict(
    schedule=dict(
        total_iters=lsj_iters,
        drops_before_end=(round(_base_.lsj_iters_100e / 9) * lsj_epochs // 100,
                          round(_base_.lsj_iters_100e / 27) * lsj_epochs // 100),
        warmup_iters=round(_base_.lsj_warmup_fraction * lsj_iters)),
    val_interval=lsj_iters // 20)
