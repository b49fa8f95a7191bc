"""The lever check's report: the per-arm summary and its seed-noise verdict."""
import pytest

from mmscratch.analysis.lever_check import summarize


def _metric(arm, seed, bbox, segm, loss):
    return dict(arm=arm, seed=seed, work_dir='', iters=10, bbox_ap=bbox, segm_ap=segm,
                losses=dict(loss=loss, loss_mask=loss / 4))


def test_verdict_compares_the_drop_with_the_seed_spread():
    base = [_metric('baseline', 0, 50.0, 52.0, 1.0), _metric('baseline', 1, 49.0, 51.0, 1.1)]
    within = summarize(base + [_metric('lever', 0, 49.5, 51.5, 1.0),
                               _metric('lever', 1, 48.5, 51.0, 1.0)])
    assert within['verdict'] == 'no drop beyond seed noise'
    assert within['lever_minus_baseline']['bbox_ap'] == pytest.approx(-0.5)
    assert within['seed_noise'] == dict(bbox_ap=1.0, segm_ap=1.0)
    assert within['lever_minus_baseline']['losses']['loss'] == pytest.approx(-0.05)
    drop = summarize(base + [_metric('lever', 0, 45.0, 51.5, 1.0),
                             _metric('lever', 1, 45.5, 51.0, 1.0)])
    assert drop['verdict'] == 'drops beyond seed noise'
    single = summarize([base[0], _metric('lever', 0, 60.0, 60.0, 1.0)])
    assert single['verdict'] == 'single seed: no noise estimate'
    no_ap = summarize([_metric('baseline', 0, None, None, 1.0),
                       _metric('lever', 0, None, None, 1.0)])
    assert no_ap['verdict'].startswith('no AP')
