"""tools/mini_paper.py --toy end to end: every stage for real at a few iterations, every
artefact produced and consistent with the others; a second call trains nothing; an
interrupted run stops the command until --resume continues it."""
import csv
import json
from pathlib import Path

import pytest
from mmengine.config import Config

from mmscratch.apis import mini_paper
from mmscratch.checkpoint.backbone_export import load_backbone_checkpoint
from mmscratch.utils.run_files import read_curve, read_run_info, write_curve

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_toy_mini_paper(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    root = tmp_path / 'mp'
    argv = ['--toy', '--in-process', '--work-root', str(root), '--data-root',
            str(tmp_path / 'shapes'), '--pretrain-data-root', str(tmp_path / 'pretrain_cls')]
    summary = mini_paper.main(argv)

    # pre-training: a checkpoint in the backbone layout of the demo detector
    backbone = root / 'pretrain' / 'backbone.pth'
    state, meta = load_backbone_checkpoint(str(backbone))
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    demo_backbone = MODELS.build(Config.fromfile(mini_paper.DEMO_CONFIG).model.backbone)
    demo_backbone.load_state_dict(state, strict=True)
    pre_info = read_run_info(str(root / 'pretrain'))
    assert meta['iterations'] == pre_info['max_iters'] == summary['pretrain']['iterations'] == 4
    assert meta['images_seen'] == 4 * 8 and meta['num_classes'] == 100
    assert 'cls/top1' in meta['val_metrics']
    import hashlib
    sha = hashlib.sha256(backbone.read_bytes()).hexdigest()
    assert json.loads((root / 'pretrain' / 'backbone.json').read_text())['sha256'] == sha

    # every run: the arm it claims, its curve to its last iteration
    runs = summary['runs']
    assert [(r['stage'], r['schedule'], r['seed'], r['arm']) for r in runs] == [
        ('figure1', '1/2x', 0, 'scratch'), ('figure1', '1/2x', 0, 'pretrained'),
        ('figure1', '1x', 0, 'scratch'), ('figure1', '1x', 0, 'pretrained'),
        ('figure1', '1x', 1, 'scratch'), ('figure1', '1x', 1, 'pretrained'),
        ('small_data', '1/2x', 0, 'scratch'), ('small_data', '1/2x', 0, 'pretrained')]
    totals = {'1/2x': 3, '1x': 6}
    for run in runs:
        info = read_run_info(run['work_dir'])
        assert info['arm'] == run['arm'] and info['max_iters'] == totals[run['schedule']]
        assert json.loads((Path(run['work_dir']) / 'run_info.json').read_text())['seed'] == \
            run['seed']
        sources = ' '.join(info['pretrained_sources'])
        assert (str(backbone) in sources) == (run['arm'] == 'pretrained')
        assert read_curve(run['work_dir'])[-1]['iter'] == totals[run['schedule']]
        dumped = next(Path(run['work_dir']).glob('mask_rcnn_gn_shapes*.py')).read_text()
        assert "type='BF16OptimWrapper'" in dumped

    # Figure 1: one line per figure-1 run, from its curve
    plot = json.loads((root / 'figure1.json').read_text())
    labels = [s['label'] for s in plot['series']]
    assert len(labels) == 6 and len(set(labels)) == 6
    assert (root / 'figure1.png').read_bytes()[:4] == b'\x89PNG'
    assert (root / 'figure1_mask.png').is_file()

    # compare_runs' table: both arms of each schedule, the 1x pair with two seeds
    rows = list(csv.DictReader((root / 'compare.csv').open()))
    assert sorted((r['schedule'], r['arm']) for r in rows) == sorted(
        [('3 it', 'scratch'), ('3 it', 'pretrained')] + [('6 it', 'scratch'),
                                                         ('6 it', 'pretrained')] * 2)
    table = (root / 'compare.md').read_text()
    six = next(line for line in table.splitlines() if '| 6 it |' in line)
    assert six.count(' / ') >= 4  # box and mask AP, each arm, two seeds
    fig_rows = {r['schedule']: r for r in summary['figure1']}
    assert len(fig_rows['1x']['scratch']['bbox']) == 2
    assert len(fig_rows['1x']['gap_bbox']) == 2

    # the small-data sweep: both arms at 8 images and on the full set (the 1/2x pair)
    sweep = list(csv.DictReader((root / 'small_data' / 'sweep.csv').open()))
    assert [r['size'] for r in sweep] == ['8', '24']
    for row in sweep:
        for arm in ('scratch', 'pretrained'):
            assert 0.0 <= float(row[f'{arm}_best_bbox']) <= 100.0
    half = next(r for r in runs if r['schedule'] == '1/2x' and r['stage'] == 'figure1'
                and r['arm'] == 'scratch')
    best = max(r['bbox_mAP'] for r in read_curve(half['work_dir']))
    assert float(sweep[1]['scratch_best_bbox']) == pytest.approx(100 * best)
    subset = json.loads((root / 'small_data' / 'subsets' / 'instances_8.json').read_text())
    assert len(subset['images']) == 8
    assert (root / 'small_data' / 'sweep.png').is_file()

    # Figure 3 with the generated set's numbers instead of ImageNet's
    budget = json.loads((root / 'data_budget.json').read_text())
    assert budget['datasets']['pretrain']['name'] == 'generated 100-class set'
    assert budget['pretraining']['images'] == meta['images_seen']
    assert budget['finetuning']['images'] == 6 * 4 and budget['scratch']['images'] == 6 * 4
    assert 'generated 100-class set pre-training' in (root / 'data_budget.md').read_text()

    # the summary: stages with times, the tables
    assert set(summary['stages']) == {'data', 'pretrain', 'figure1', 'small_data', 'report'}
    assert summary['stages']['figure1']['trained'] == 6
    text = (root / 'summary.md').read_text()
    assert '## Figure 1 in miniature' in text and '| 1x | 6 |' in text
    assert json.loads((root / 'summary.json').read_text())['figure1'] == summary['figure1']

    # again: nothing is trained, the report is written again
    again = mini_paper.main(argv)
    assert again['stages']['figure1']['trained'] == again['stages']['small_data']['trained'] == 0
    assert again['pretrain']['sha256'] == sha
    # a call that trains nothing still reports the time the runs took, from their logs
    for stage in ('pretrain', 'figure1', 'small_data'):
        assert again['stages'][stage]['logged_s'] == summary['stages'][stage]['logged_s']
    assert summary['stages']['figure1']['logged_s'] > 0
    assert 'logged (min)' in (root / 'summary.md').read_text()

    # an interrupted run (its last evaluation lost) stops the command until --resume
    victim = Path(runs[3]['work_dir'])
    records = read_curve(str(victim))
    write_curve(str(victim / 'curve.jsonl'), records[:-1])
    with pytest.raises(mini_paper.MiniPaperError, match='--resume'):
        mini_paper.main(argv)
    resumed = mini_paper.main(argv + ['--resume'])
    assert resumed['stages']['figure1']['trained'] == 1
    assert read_curve(str(victim))[-1]['iter'] == 6
    assert read_run_info(str(victim))['arm'] == 'pretrained'
