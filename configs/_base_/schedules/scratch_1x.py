# The paper's optimizer and schedule rule, 1x = 90k iterations at batch 16.
#
# SGD, LR 0.02, momentum 0.9, weight decay 1e-4 (none on norm parameters, as in
# Detectron's GN recipe); linear warm-up over 500 iterations from 1/3 (Detectron's
# default; the paper states none), then LR x0.1 at the last 60k and the last 20k
# iterations. Only the length lives in the config (`schedule.multiple`):
# ScratchIterBasedTrainLoop computes the iterations and the steps with
# mmscratch.recipe.schedule.paper_schedule and re-expresses all of them for the
# real batch (GPUs x images per GPU) by the linear scaling rule, while
# auto_scale_lr scales the LR the same way.
train_cfg = dict(
    type='ScratchIterBasedTrainLoop',
    schedule=dict(multiple=1),
    base_batch_size=16,
    # at batch 16; the loop scales it with the iterations
    val_interval=30000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [dict(type='ScratchScheduleLR')]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.))

# The LR above is for 16 images per iteration (8 GPUs x 2); other batches get
# LR x batch/16. Must agree with train_cfg.base_batch_size.
auto_scale_lr = dict(enable=True, base_batch_size=16)
