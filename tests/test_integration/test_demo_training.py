"""A real (short) from-scratch run of the demo config, end to end.

One 30-iteration run on a generated 24-image dataset is shared by the tests:
the model is the demo's GN Mask R-CNN, the loss falls, pycocotools evaluates
it, the hooks write their files, checkpoints load on torch >= 2.6 and
``--resume`` continues without duplicating curve points; the guard rejects
non-scratch copies of the config.
"""
import json
import shutil

import pytest
import torch

from mmscratch.utils.run_files import read_curve
from mmscratch.apis import test as test_api
from mmscratch.apis import train as train_api
from mmscratch.engine.hooks import ScratchGuardError
from mmscratch.engine.hooks.scratch_guard_hook import norm_summary

from mmscratch.testing.demo import DEMO_CONFIG, make_tiny_dataset, tiny_demo_options

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp('shapes'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data_root):
    work_dir = tmp_path_factory.mktemp('demo_run')
    runner = train_api.main([DEMO_CONFIG, '--work-dir', str(work_dir), '--cfg-options',
                             *tiny_demo_options(data_root)])
    return runner, work_dir


def _logged_losses(work_dir):
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))[0]
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [r['loss'] for r in records if 'loss' in r]


def test_demo_model_is_gn_everywhere_and_random_init(trained):
    runner, _ = trained
    summary = norm_summary(runner.model)
    for group in ('backbone', 'neck', 'roi_head.bbox_head', 'roi_head.mask_head'):
        assert set(summary[group]) == {'GN'}, (group, summary[group])
    assert all(p.requires_grad for p in runner.model.parameters())
    assert runner.cfg.model.backbone.init_cfg is None
    assert type(runner.model.roi_head.bbox_head).__name__ == 'Shared4Conv1FCBBoxHead'


def test_loss_falls(trained):
    losses = _logged_losses(trained[1])
    assert len(losses) == 6  # logged every 5 of 30 iterations
    assert sum(losses[-2:]) / 2 < 0.8 * sum(losses[:2]) / 2, losses


def test_schedule_is_the_paper_rule(trained):
    runner, _ = trained
    assert runner.train_loop.schedule.steps == (20, 26)
    lrs = [g['lr'] for g in runner.optim_wrapper.param_groups]
    assert lrs[0] == pytest.approx(0.001 * 0.01)  # AdamW 1e-3, after both x0.1 drops


def test_curve_and_data_seen(trained):
    _, work_dir = trained
    records = read_curve(str(work_dir))
    assert [r["iter"] for r in records] == [20, 22, 30]
    for r in records:
        assert 0.0 <= r['bbox_mAP'] <= 1.0 and 0.0 <= r['segm_mAP'] <= 1.0
    assert records[-1]['images_seen'] == 30 * 4
    assert (work_dir / 'curve.png').read_bytes()[:4] == b'\x89PNG'
    ckpt = torch.load(work_dir / 'iter_15.pth')  # weights_only=True: safe loading
    assert ckpt['data_seen']['images'] == 15 * 4
    assert ckpt['data_seen']['instances'] > 15 * 4


def test_evaluation_with_tools_test(trained, tmp_path):
    _, work_dir = trained
    metrics = test_api.main([DEMO_CONFIG, str(work_dir / 'iter_30.pth'), '--work-dir',
                             str(tmp_path), '--out', str(tmp_path / 'preds.pkl'),
                             '--cfg-options', *tiny_demo_options(
                                 trained[0].cfg.data_root)])
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP_75'):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics['coco/bbox_mAP'] == pytest.approx(read_curve(str(work_dir))[-1]['bbox_mAP'])
    assert (tmp_path / 'preds.pkl').stat().st_size > 0


def test_resume_from_checkpoint_continues(trained, data_root, tmp_path):
    _, work_dir = trained
    resumed_dir = tmp_path / 'resumed'
    shutil.copytree(work_dir, resumed_dir)
    # a crash after iteration 15: later checkpoints and curve points are gone
    (resumed_dir / 'iter_30.pth').unlink()
    runner = train_api.main([DEMO_CONFIG, '--work-dir', str(resumed_dir),
                             '--resume', str(resumed_dir / 'iter_15.pth'),
                             '--cfg-options', *tiny_demo_options(data_root)])
    assert runner.iter == 30
    records = read_curve(str(resumed_dir))
    assert [r["iter"] for r in records] == [20, 22, 30]  # no duplicates, no gaps
    ckpt = torch.load(resumed_dir / 'iter_30.pth')
    assert ckpt['meta']['iter'] == 30
    assert ckpt['data_seen']['images'] == 30 * 4


def test_resume_with_nothing_to_resume_refuses(data_root, tmp_path):
    with pytest.raises(train_api.NothingToResume, match='no checkpoint to resume'):
        train_api.main([DEMO_CONFIG, '--work-dir', str(tmp_path), '--resume',
                        '--cfg-options', *tiny_demo_options(data_root)])


@pytest.mark.parametrize('override, message', [
    ('model.backbone.frozen_stages=1', 'frozen parameter'),
    ('load_from={ckpt}', 'load_from'),
])
def test_guard_rejects_non_scratch_copies(trained, data_root, tmp_path, override, message):
    override = override.format(ckpt=trained[1] / 'iter_15.pth')
    with pytest.raises(ScratchGuardError, match=message):
        train_api.main([DEMO_CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                        *tiny_demo_options(data_root), override])
