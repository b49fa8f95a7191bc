"""BF16OptimWrapper: autocast in the training forward only, no loss scaler,
fp32 islands installed, AmpOptimWrapper checkpoints accepted, runs on CPU."""
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

import mmscratch  # noqa: F401  (registers BF16OptimWrapper)
from mmscratch.benchmark.synthetic import make_train_batch
from mmscratch.engine.optimizers import BF16OptimWrapper
from mmscratch.testing import build_model_from_config

DEMO = 'configs/demo/mask_rcnn_gn_shapes.py'


def _wrapper(model, **kw):
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = dict(type='BF16OptimWrapper',
               optimizer=dict(type='SGD', lr=0.1, momentum=0.9), **kw)
    return build_optim_wrapper(model, cfg)


def test_builds_from_config_on_cpu_and_autocasts_only_inside_the_context():
    model = nn.Linear(4, 3)
    wrapper = _wrapper(model)
    assert isinstance(wrapper, BF16OptimWrapper) and not hasattr(wrapper, 'loss_scaler')
    x = torch.randn(2, 4)
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert model(x).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled('cpu') and model(x).dtype == torch.float32


def test_update_params_steps_in_fp32_and_state_dict_is_the_optimizers():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    before = model.weight.detach().clone()
    wrapper = _wrapper(model, clip_grad=dict(max_norm=1.0))
    with wrapper.optim_context(model):
        loss = model(torch.randn(8, 4)).float().pow(2).mean()
    wrapper.update_params(loss)
    assert model.weight.dtype == torch.float32 and model.weight.grad is None  # zero_grad'ed
    assert not torch.equal(before, model.weight)
    state = wrapper.state_dict()
    assert 'loss_scaler' not in state and state['state']  # momentum buffers
    # a checkpoint of MMEngine's AmpOptimWrapper (bf16 or fp16 run) resumes here
    other = _wrapper(nn.Linear(4, 1))
    other.load_state_dict(dict(state, loss_scaler={'scale': 65536.0}))
    assert other.state_dict()['state'].keys() == state['state'].keys()


def test_real_demo_train_step_on_cpu():
    """One MMEngine train_step of the demo Mask R-CNN: losses fp32 and finite,
    every parameter updated, parameters kept in fp32."""
    torch.manual_seed(0)
    model = build_model_from_config(DEMO, scale_down=False)
    model.train()
    wrapper = _wrapper(model)
    batch = make_train_batch(batch_size=2, image_size=(128, 128), num_instances=3,
                             num_classes=5, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(batch, wrapper)
    assert torch.isfinite(log_vars['loss']) and log_vars['loss'].dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p)]
    assert len(changed) > 0.9 * len(before)


def test_islands_can_be_switched_off():
    model = build_model_from_config(DEMO, scale_down=False)
    with _wrapper(model, fp32_islands=False).optim_context(model):
        assert torch.is_autocast_enabled('cpu')
    assert not getattr(model, '_mmscratch_fp32_islands', False)
    with _wrapper(model).optim_context(model):
        pass
    assert getattr(model, '_mmscratch_fp32_islands', False)


def test_train_speed_flags(tmp_path):
    import pytest

    from mmscratch.apis.train import build_parser, build_train_config

    def cfg_for(*flags):
        return build_train_config(build_parser().parse_args(
            ['configs/scratch/mask_rcnn_r50_gn_6x.py', '--work-dir', str(tmp_path), *flags]))

    cfg = cfg_for('--bf16')
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper'
    assert cfg.optim_wrapper.optimizer.lr == 0.02  # everything else kept
    with pytest.raises(ValueError, match='pick one'):
        cfg_for('--bf16', '--amp')
    with pytest.raises(ValueError, match='needs an OptimWrapper'):
        cfg_for('--bf16', '--cfg-options', 'optim_wrapper.type=AmpOptimWrapper')
    # the published variant is the same config with only the wrapper changed
    variant = build_train_config(build_parser().parse_args(
        ['configs/scratch/mask_rcnn_r50_gn_6x_bf16.py', '--work-dir', str(tmp_path)]))
    plain = cfg_for()
    assert variant.optim_wrapper.type == 'BF16OptimWrapper'
    variant.optim_wrapper.type = plain.optim_wrapper.type
    assert variant.to_dict() == plain.to_dict()
    # --channels-last adds the hook once (the fast demo config already has it)
    hooks = [h['type'] for h in cfg_for('--channels-last').custom_hooks]
    assert hooks == [h['type'] for h in plain.custom_hooks] + ['ChannelsLastHook']
    fast = build_train_config(build_parser().parse_args(
        ['configs/demo/mask_rcnn_gn_shapes_fast.py', '--channels-last', '--bf16',
         '--work-dir', str(tmp_path)]))
    assert [h['type'] for h in fast.custom_hooks].count('ChannelsLastHook') == 1
