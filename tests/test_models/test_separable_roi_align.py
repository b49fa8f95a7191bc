"""SeparableRoIAlign computes MMCV's RoIAlign (average mode): forward and
backward compared with MMCV's CPU kernel on random and edge-case RoIs."""
import pytest
import torch
from mmcv.ops import RoIAlign

from mmscratch.models import SeparableRoIAlign, use_separable_roi_align
from mmscratch.testing import build_model_from_config

DEMO = 'configs/demo/mask_rcnn_gn_shapes.py'


def _rois(num, num_images, extent, seed):
    """RoIs over and around an image of ``extent`` px, with the cases that
    exercise MMCV's rules: empty, tiny, partly and wholly outside the map."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, num_images, (num,), generator=g).double()
    xy = torch.rand(num, 2, generator=g, dtype=torch.float64) * (extent * 1.4) - extent * 0.2
    wh = torch.rand(num, 2, generator=g, dtype=torch.float64) * extent * 0.9
    wh[:10] = 0                               # zero size: no samples in aligned mode
    wh[10:20] *= 0.01                         # below one pixel
    xy[20:26] = -extent * 3                   # wholly outside (samples beyond -1)
    xy[26:30] = extent * 0.95                 # running off the far edge
    xy[30:34] = xy[30:34].round()             # samples on whole pixels
    wh[30:34] = (wh[30:34] / 4).round() * 4
    return torch.cat([image[:, None], xy, xy + wh], 1).float()


def _compare(output_size, spatial_scale, sampling_ratio, aligned, shape=(3, 16, 24, 20),
             num_rois=120, seed=0):
    torch.manual_seed(seed)
    feats = torch.randn(*shape)
    extent = shape[2] / spatial_scale
    rois = _rois(num_rois, shape[0], extent, seed)
    theirs_in = feats.clone().requires_grad_()
    ours_in = feats.clone().requires_grad_()
    theirs = RoIAlign(output_size, spatial_scale, sampling_ratio, 'avg', aligned)(theirs_in, rois)
    ours = SeparableRoIAlign(output_size, spatial_scale, sampling_ratio, 'avg', aligned)(
        ours_in, rois)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert theirs.abs().sum() > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(theirs)
    theirs.backward(upstream)
    ours.backward(upstream)
    assert theirs_in.grad.abs().sum() > 0
    torch.testing.assert_close(ours_in.grad, theirs_in.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 1, 2, 3])
@pytest.mark.parametrize('output_size', [7, (14, 14), (5, 9)])
def test_matches_mmcv_forward_and_backward(aligned, sampling_ratio, output_size):
    _compare(output_size, 0.25, sampling_ratio, aligned)


@pytest.mark.parametrize('spatial_scale', [1.0, 0.5, 1 / 16, 1 / 32])
def test_matches_mmcv_at_each_fpn_scale(spatial_scale):
    _compare(7, spatial_scale, 0, True, shape=(2, 8, 12, 16), seed=3)


def test_images_without_rois_and_no_rois_at_all():
    feats = torch.randn(4, 8, 16, 16, requires_grad=True)
    rois = torch.tensor([[2, 4., 4., 40., 30.]])  # images 0, 1, 3 have none
    _ = SeparableRoIAlign(7, 0.25)(feats, rois).sum().backward()
    assert feats.grad[[0, 1, 3]].abs().sum() == 0 and feats.grad[2].abs().sum() > 0
    empty = SeparableRoIAlign(7, 0.25)(feats, torch.zeros(0, 5))
    assert empty.shape == (0, 8, 7, 7)
    empty.sum().backward()  # part of the graph, as MMCV's


def test_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match='not separable'):
        SeparableRoIAlign(7, 0.25, pool_mode='max')
    with pytest.raises(ValueError, match='sampling_ratio'):
        SeparableRoIAlign(7, 0.25, sampling_ratio=-1)
    op = SeparableRoIAlign(7, 0.25)
    with pytest.raises(ValueError, match='batch index outside'):
        op(torch.randn(2, 4, 8, 8), torch.tensor([[2, 0., 0., 8., 8.]]))
    with pytest.raises(ValueError, match=r'\(K, 5\) rois'):
        op(torch.randn(2, 4, 8, 8), torch.zeros(3, 4))


def test_float64_uses_mmcvs_float32_grid_and_scale():
    """MMCV rounds roi_len / pooled to float32 before ceilf, and takes
    spatial_scale as a C float: a RoI a hair over 14 px has a grid of 2, not 3."""
    feats = torch.randn(1, 3, 40, 40, dtype=torch.float64)
    rois = torch.tensor([[0, 0., 0., 14 + 1e-9, 14.], [0, 3., 5., 30., 27.]],
                        dtype=torch.float64)
    for scale, aligned in ((1.0, False), (0.1, True), (1 / 3, True)):
        theirs = RoIAlign(7, scale, 0, 'avg', aligned)(feats, rois)
        ours = SeparableRoIAlign(7, scale, 0, 'avg', aligned)(feats, rois)
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


def test_low_precision_features_are_interpolated_in_fp32():
    """bf16 holds integers exactly only to 256: pixel indices and coordinates
    stay fp32 (a 400-px-wide map, RoI at x = 250..390)."""
    feats = torch.randn(1, 2, 4, 400)  # 1600 pixels: under the cap
    rois = torch.tensor([[0, 250., 0., 390., 4.]])
    op = SeparableRoIAlign((1, 7), 1.0, 2)
    low = feats.bfloat16()
    out = op(low, rois)
    assert out.dtype == torch.bfloat16
    reference = RoIAlign((1, 7), 1.0, 2)(low.float(), rois)
    torch.testing.assert_close(out.float(), reference, rtol=1e-2, atol=1e-2)


def test_low_precision_features_above_the_cap_reach_mmcv_as_fp32():
    feats = torch.randn(1, 2, 80, 80).bfloat16()  # 6400 pixels: MMCV's kernel
    rois = torch.tensor([[0, 10., 12., 200., 260.]])
    out = SeparableRoIAlign(7, 0.25)(feats, rois)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), RoIAlign(7, 0.25)(feats.float(), rois)
                               .bfloat16().float())


def test_large_maps_and_negative_sizes_as_mmcv():
    # above the cap: MMCV's own kernel, identical output
    feats = torch.randn(1, 4, 65, 64)
    rois = _rois(30, 1, 256, 2)
    torch.testing.assert_close(SeparableRoIAlign(7, 0.25)(feats, rois),
                               RoIAlign(7, 0.25)(feats, rois), rtol=0, atol=0)
    small = torch.randn(1, 4, 16, 16)
    backwards = torch.tensor([[0, 20., 20., 10., 30.]])
    with pytest.raises(RuntimeError):
        RoIAlign(7, 0.25)(small, backwards)  # MMCV asserts
    with pytest.raises(ValueError, match='x2 < x1'):
        SeparableRoIAlign(7, 0.25)(small, backwards)
    # legacy mode clamps the size to one pixel instead, in both
    torch.testing.assert_close(SeparableRoIAlign(7, 0.25, aligned=False)(small, backwards),
                               RoIAlign(7, 0.25, aligned=False)(small, backwards))


def test_non_finite_features_spread_as_documented():
    """The documented difference: MMCV reads only a sample's neighbours, the
    products read the whole map, so an inf elsewhere in the channel spreads."""
    feats = torch.randn(1, 2, 16, 16)
    feats[0, 0, 15, 15] = float('inf')
    rois = torch.tensor([[0, 0., 0., 8., 8.]])
    assert torch.isfinite(RoIAlign(7, 1.0, 2)(feats, rois)).all()
    ours = SeparableRoIAlign(7, 1.0, 2)(feats, rois)
    assert not torch.isfinite(ours[:, 0]).all() and torch.isfinite(ours[:, 1]).all()


def test_stays_fp32_under_bf16_autocast():
    feats = torch.randn(2, 8, 16, 16)
    rois = _rois(40, 2, 64, 1)
    op = SeparableRoIAlign(7, 0.25)
    plain = op(feats, rois)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        under = op(feats, rois)
    assert under.dtype == torch.float32
    torch.testing.assert_close(under, plain)


def test_replaces_the_demo_models_roi_layers_with_the_same_features():
    torch.manual_seed(0)
    model = build_model_from_config(DEMO, scale_down=False).eval()
    feats = [torch.randn(2, 64, 32 // 2 ** i, 32 // 2 ** i) for i in range(4)]
    rois = torch.tensor([[0, 4., 6., 60., 70.], [1, 30., 10., 120., 90.],
                         [0, 0., 0., 127., 127.], [1, 50., 50., 58., 61.]])
    before = {name: getattr(model.roi_head, name)(feats, rois)
              for name in ('bbox_roi_extractor', 'mask_roi_extractor')}
    keys = set(model.state_dict())
    assert use_separable_roi_align(model) == 8  # 4 FPN levels x (box, mask)
    assert use_separable_roi_align(model) == 0  # nothing left to replace
    assert set(model.state_dict()) == keys      # checkpoints unchanged
    layers = model.roi_head.mask_roi_extractor.roi_layers
    assert all(isinstance(layer, SeparableRoIAlign) for layer in layers)
    assert layers[0].output_size == (14, 14) and layers[0].spatial_scale == 0.25
    for name, ref in before.items():
        torch.testing.assert_close(getattr(model.roi_head, name)(feats, rois), ref,
                                   rtol=1e-5, atol=1e-5)


def test_leaves_max_pooling_layers_alone():
    holder = torch.nn.Sequential(RoIAlign(7, 0.25, pool_mode='max'), RoIAlign(7, 0.25))
    assert use_separable_roi_align(holder) == 1
    assert type(holder[0]) is RoIAlign and isinstance(holder[1], SeparableRoIAlign)
