"""fp32 islands: under bf16 autocast, RoI extractors read fp32 features and
heads hand fp32 outputs to losses/NMS; without autocast nothing changes."""
from collections import namedtuple

import pytest
import torch

from mmscratch.benchmark.synthetic import make_train_batch
from mmscratch.models import install_fp32_islands, to_fp32
from mmscratch.testing import build_model_from_config

DEMO = 'configs/demo/mask_rcnn_gn_shapes.py'


def test_to_fp32_walks_nested_outputs():
    Pair = namedtuple('Pair', 'a b')
    bf = torch.ones(2, dtype=torch.bfloat16)
    out = to_fp32(([bf, bf], {'x': bf, 'n': None}, Pair(bf, torch.ones(2, dtype=torch.long))))
    assert out[0][0].dtype == torch.float32 and isinstance(out[0], list)
    assert out[1]['x'].dtype == torch.float32 and out[1]['n'] is None
    assert isinstance(out[2], Pair) and out[2].a.dtype == torch.float32
    assert out[2].b.dtype == torch.long  # integer tensors are left alone
    same = torch.ones(2)
    assert to_fp32(same) is same


def _demo_model_and_batch():
    torch.manual_seed(0)
    model = build_model_from_config(DEMO, scale_down=False)
    model.train()
    batch = make_train_batch(batch_size=2, image_size=(128, 128), num_instances=3,
                             num_classes=5, seed=0)
    return model, model.data_preprocessor(batch, True)


def _record_dtypes(model):
    """Input dtype of every RoI extractor and output dtypes of every head."""
    from mmscratch.models.fp32_islands import is_head, is_roi_extractor
    seen = {'extractor_in': [], 'head_out': []}

    def first_tensor(obj):
        while isinstance(obj, (list, tuple)):
            obj = obj[0]
        return obj

    for name, module in model.named_modules():
        if is_roi_extractor(module):
            module.register_forward_hook(
                lambda m, args, out: seen['extractor_in'].append(args[0][0].dtype))
        elif is_head(module):
            module.register_forward_hook(
                lambda m, args, out: seen['head_out'].append(first_tensor(out).dtype))
    return seen


def test_heads_and_roi_extractors_run_in_fp32_under_autocast():
    model, data = _demo_model_and_batch()
    install_fp32_islands(model)
    seen = _record_dtypes(model)  # registered after the islands: sees their effect
    with torch.autocast('cpu', dtype=torch.bfloat16):
        feats = model.extract_feat(data['inputs'])
        assert feats[0].dtype == torch.bfloat16  # the network itself is in bf16
        losses = model.loss(data['inputs'], data['data_samples'])
    assert seen['extractor_in'] and set(seen['extractor_in']) == {torch.float32}
    assert set(seen['head_out']) == {torch.float32}
    # rpn_head, bbox_head and mask_head all reported
    assert len(seen['head_out']) == 3
    total, _ = model.parse_losses(losses)
    assert total.dtype == torch.float32 and torch.isfinite(total)


def test_without_islands_mmcv_refuses_bf16():
    """Why the islands exist: MMCV 2.1's CPU kernels have no bf16 path."""
    model, data = _demo_model_and_batch()
    with torch.autocast('cpu', dtype=torch.bfloat16), pytest.raises(RuntimeError):
        model.loss(data['inputs'], data['data_samples'])


def test_islands_change_nothing_without_autocast():
    model, data = _demo_model_and_batch()
    torch.manual_seed(1)
    plain = model.loss(data['inputs'], data['data_samples'])
    handles = install_fp32_islands(model)
    assert handles and install_fp32_islands(model) == []  # idempotent
    torch.manual_seed(1)
    islands = model.loss(data['inputs'], data['data_samples'])
    assert plain.keys() == islands.keys()
    for key in plain:
        a, b = plain[key], islands[key]
        if isinstance(a, list):
            assert all(torch.equal(x, y) for x, y in zip(a, b)), key
        else:
            assert torch.equal(a, b), key
