# The pretrained twin of configs/demo/mask_rcnn_gn_shapes.py: the same model, data,
# schedule and seed, the backbone initialized from the mini paper's pre-training
# (configs/demo/resnet18_gn_cls_pretrain.py on the generated 100-class set) through
# init_cfg=Pretrained, exactly as configs/pretrained/* load ImageNet weights; the
# checkpoint is in MMDetection's backbone key layout (no prefix, no classifier head).
# tools/mini_paper.py passes its own checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=WORK_ROOT/pretrain/backbone.pth
#
# Fine-tuning, as the paper's pretrained baselines: every GN layer trained (GN has no
# running statistics to freeze; the paper fine-tunes with GN/SyncBN, not frozen BN),
# and the stem + first stage (res2) frozen: frozen_stages=1 is Detectron's FREEZE_AT=2,
# which the reference Detectron GN configs behind the paper's pretrained numbers keep
# (../shared/PAPER_RECIPE.md), the choice issue 13 makes for the COCO twins (configs/pretrained/).
_base_ = './mask_rcnn_gn_shapes.py'

pretrain_checkpoint = 'work_dirs/mini_paper/pretrain/backbone.pth'
model = dict(
    backbone=dict(
        frozen_stages=1,
        # replaces the scratch twin's init_cfg=None (random initialization)
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrain_checkpoint)))
# The scratch twin's hooks without ScratchGuardHook, which would rightly refuse the
# pre-trained weights and the frozen stem; the order (and so custom_hooks.N indices
# up to 1) is kept. RunInfoHook records the run as pretrained, from this checkpoint.
custom_hooks = [h for h in _base_.custom_hooks if h['type'] != 'ScratchGuardHook']
