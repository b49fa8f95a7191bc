# The mini paper's "ImageNet pre-training" (docs/mini_paper.md): the demo detector's
# backbone -- exactly configs/demo/mask_rcnn_gn_shapes.py's ResNet-18 at 1/4 width with
# GN(8), random init (a test holds the two equal) -- trained as a 100-class classifier
# (global average pooling + one linear layer) on the generated classification set of
# mmscratch.datasets.pretrain_set (10 object families x 10 fill textures, none of them
# the detection set's shapes), with MMEngine's runner. BackboneExportHook writes the
# backbone in MMDetection's key layout to WORK_DIR/backbone.pth (+ backbone.json), which
# configs/demo/mask_rcnn_gn_shapes_pretrained.py loads through init_cfg=Pretrained.
#
# Images are trained at the size they were generated (64 px by default: objects span the
# pixels the detection set's objects span; docs/mini_paper.md).
#
#   python tools/make_pretrain_dataset.py --out data/pretrain_cls
#   python tools/train.py configs/demo/resnet18_gn_cls_pretrain.py --bf16
default_scope = 'mmdet'
custom_imports = dict(imports=['mmscratch'], allow_failed_imports=False)

norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)
num_classes = 100
data_root = 'data/pretrain_cls/'

model = dict(
    type='BackboneClassifier',
    # the detector's own input normalization (MMDetection's Mask R-CNN defaults), so the
    # backbone sees fine-tuning inputs as it saw pre-training ones
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        zero_init_residual=False,
        init_cfg=None),
    num_classes=num_classes,
    label_smoothing=0.1)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackClsInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='GeneratedClsDataset',
        data_root=data_root,
        ann_file='meta/train.json',
        data_prefix=dict(img_path='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='GeneratedClsDataset',
        data_root=data_root,
        ann_file='meta/val.json',
        data_prefix=dict(img_path='val/'),
        pipeline=test_pipeline))
val_evaluator = dict(type='ClsAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# The paper's schedule shape (warm-up, then x0.1 near the end), as the detection runs;
# its length is the mini paper's pre-training budget (docs/mini_paper.md).
train_cfg = dict(
    type='ScratchIterBasedTrainLoop',
    schedule=dict(total_iters=8000, drops_before_end=(1600, 500),
                  warmup_iters=200, warmup_factor=1.0 / 3),
    base_batch_size=32,
    val_interval=8000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [dict(type='ScratchScheduleLR', by_epoch=False)]
# AdamW as the demo detector (its reason in mask_rcnn_gn_shapes.py), no decay on GN
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.002, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(enable=True, base_batch_size=32)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2000,
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [
    dict(type='ExactResumeHook'),
    dict(type='PlainDataCheckpointHook'),
    dict(type='RunInfoHook'),
    # the backbone in MMDetection's key layout, for the pretrained detector twin
    dict(type='BackboneExportHook', filename='backbone.pth'),
]
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=1),
               dist_cfg=dict(backend='nccl'))
