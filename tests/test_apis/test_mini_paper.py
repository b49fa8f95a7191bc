"""The mini paper's plan: schedules from the demo's by the paper's rule, the runs and
their options, the plan flags, and what it refuses (fast: nothing trains here)."""
import json
import os
from pathlib import Path

import pytest

from mmscratch.apis import mini_paper
from mmscratch.apis.mini_paper import (FULL, TOY, MiniPaper, MiniPaperError, build_parser,
                                       curve_points, multiple_label, plan_from_args,
                                       scaled_schedule)
from mmscratch.recipe.schedule import paper_schedule

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the configs are named relative to the repo, as the tool runs


def test_schedules_scale_the_demo_schedule_with_drops_at_the_proportional_end(in_repo, tmp_path):
    paper = MiniPaper(FULL, str(tmp_path / 'w'), str(tmp_path / 'd'), str(tmp_path / 'p'))
    assert paper.base_schedule['total_iters'] == 1500  # read from the demo config
    steps = {multiple_label(m): paper_schedule(**s).steps for m, s in paper.schedules.items()}
    assert steps == {'1/4x': (300, 350), '1/2x': (600, 700), '1x': (1200, 1400),
                     '2x': (2400, 2800)}
    assert {s['total_iters'] for s in paper.schedules.values()} == {375, 750, 1500, 3000}
    assert all(s['warmup_iters'] == 100 for s in paper.schedules.values())
    # a warm-up longer than a short schedule's first drop is cut to it
    short = scaled_schedule(dict(total_iters=100, drops_before_end=(20, 10), warmup_iters=90), 1)
    assert short['warmup_iters'] == 80
    with pytest.raises(MiniPaperError, match='1/2x'):
        scaled_schedule(dict(total_iters=6, drops_before_end=(2, 1), warmup_iters=1), 0.5)


def test_runs_options_and_arms(in_repo, tmp_path):
    paper = MiniPaper(FULL, str(tmp_path / 'w'), str(tmp_path / 'd'), str(tmp_path / 'p'))
    runs = paper.figure1_runs()
    assert [(multiple_label(r.multiple), r.seed, r.arm) for r in runs] == [
        ('1/4x', 0, 'scratch'), ('1/4x', 0, 'pretrained'), ('1/2x', 0, 'scratch'),
        ('1/2x', 0, 'pretrained'), ('1x', 0, 'scratch'), ('1x', 0, 'pretrained'),
        ('1x', 1, 'scratch'), ('1x', 1, 'pretrained'), ('2x', 0, 'scratch'),
        ('2x', 0, 'pretrained')]
    backbone = f'model.backbone.init_cfg.checkpoint={tmp_path}/w/pretrain/backbone.pth'
    for run in runs:
        assert 'optim_wrapper.type=BF16OptimWrapper' in run.options
        assert (backbone in run.options) == (run.arm == 'pretrained')
        assert run.config.endswith('_pretrained.py') == (run.arm == 'pretrained')
        assert f'randomness.seed={run.seed}' in run.options
        total = paper.schedules[run.multiple]['total_iters']
        assert f'train_cfg.schedule.total_iters={total}' in run.options
    assert [curve_points(FULL, m) for m in FULL.multiples] == [3, 3, 4, 6]
    small = paper.small_data_runs()
    assert [(r.size, r.arm) for r in small] == [(60, 'scratch'), (60, 'pretrained'),
                                                (200, 'scratch'), (200, 'pretrained')]
    assert all('train_cfg.schedule.total_iters=750' in r.options for r in small)
    assert all(f'train_dataloader.dataset.ann_file={tmp_path}/w/small_data/subsets/'
               f'instances_{r.size}.json' in r.options for r in small)


def test_plan_flags_override_the_plan(in_repo):
    args = build_parser().parse_args(['--pretrain-iters', '600', '--multiples', '0.5', '1',
                                      '--seeds', '0', '1', '2', '--curve-points', '3',
                                      '--subset-sizes', '200', '60'])
    plan = plan_from_args(args)
    assert plan.pretrain_schedule == dict(total_iters=600, drops_before_end=[120, 38],
                                          warmup_iters=200)
    assert plan.multiples == (0.5, 1.0) and plan.seeds == (0, 1, 2)
    assert plan.subset_sizes == (60, 200) and plan.curve_points == 3
    assert plan_from_args(build_parser().parse_args(['--toy'])) == TOY
    with pytest.raises(MiniPaperError, match='subset-sizes'):
        plan_from_args(build_parser().parse_args(['--subset-sizes', '600']))


def test_the_plan_needs_the_1x_and_the_small_data_schedules(in_repo, tmp_path):
    args = build_parser().parse_args(['--multiples', '0.25', '2'])
    with pytest.raises(MiniPaperError, match='1x'):
        MiniPaper(plan_from_args(args), str(tmp_path), str(tmp_path), str(tmp_path))


def test_dry_run_prints_every_command_and_writes_nothing(in_repo, tmp_path, capsys):
    mini_paper.main(['--dry-run', '--work-root', str(tmp_path / 'w'),
                     '--data-root', str(tmp_path / 'd'),
                     '--pretrain-data-root', str(tmp_path / 'p')])
    out = capsys.readouterr().out
    assert out.count('python tools/train.py') == 1 + 10 + 4
    assert 'configs/demo/resnet18_gn_cls_pretrain.py' in out
    assert not (tmp_path / 'w').exists() and not (tmp_path / 'd').exists()
    assert '--fast-cpu-ops' not in out  # off by default: the published results' settings


def test_fast_cpu_ops_reach_the_detection_runs_only(in_repo, tmp_path, capsys):
    mini_paper.main(['--dry-run', '--fast-cpu-ops', '--work-root', str(tmp_path / 'w'),
                     '--data-root', str(tmp_path / 'd'),
                     '--pretrain-data-root', str(tmp_path / 'p')])
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith('python tools/train.py')]
    pretrain = [line for line in lines if 'resnet18_gn_cls_pretrain' in line]
    detection = [line for line in lines if line not in pretrain]
    assert len(pretrain) == 1 and '--fast-cpu-ops' not in pretrain[0]
    assert len(detection) == 14 and all(' --fast-cpu-ops ' in line for line in detection)


def test_data_made_with_other_parameters_is_not_overwritten(in_repo, tmp_path):
    from mmscratch.datasets.shapes import generate_shapes_dataset
    generate_shapes_dataset(str(tmp_path / 'd'), num_train=3, num_val=1, image_size=64)
    before = (tmp_path / 'd' / 'annotations' / 'instances_train.json').read_bytes()
    paper = MiniPaper(TOY, str(tmp_path / 'w'), str(tmp_path / 'd'), str(tmp_path / 'p'))
    with pytest.raises(MiniPaperError, match='another --data-root'):
        paper.make_data()
    assert (tmp_path / 'd' / 'annotations' / 'instances_train.json').read_bytes() == before


def test_an_interrupted_run_needs_resume(in_repo, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(mini_paper, 'train_config',
                        lambda *a, **k: calls.append(k['extra_args']))
    work = tmp_path / 'run'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'iter_3.pth'))
    paper = MiniPaper(TOY, str(tmp_path / 'w'), str(tmp_path), str(tmp_path))
    with pytest.raises(MiniPaperError, match='--resume'):
        paper._train('c.py', str(work), [], 'x', lambda d: False)
    assert calls == []
    paper.resume = True
    assert paper._train('c.py', str(work), [], 'x', lambda d: False) == 'resumed'
    assert calls == [['--resume', '--allow-fresh-start']]
    assert paper._train('c.py', str(work), [], 'x', lambda d: True) == 'skipped'
    assert paper._train('c.py', str(tmp_path / 'new'), [], 'x', lambda d: False) == 'trained'
    assert calls[-1] == []


def test_a_run_that_is_not_the_arm_it_claims_stops_the_report(in_repo, tmp_path):
    paper = MiniPaper(TOY, str(tmp_path / 'w'), str(tmp_path), str(tmp_path))
    run = paper.figure1_runs()[1]
    assert run.arm == 'pretrained'
    Path(run.work_dir).mkdir(parents=True)
    info = dict(config_name='mask_rcnn_gn_shapes_pretrained', arm='pretrained',
                pretrained_sources=['model.backbone.init_cfg: Pretrained(/elsewhere.pth)'])
    (Path(run.work_dir) / 'run_info.json').write_text(json.dumps(info))
    with pytest.raises(MiniPaperError, match='not from'):
        paper.check_arm(run)
    info['arm'] = 'scratch'
    (Path(run.work_dir) / 'run_info.json').write_text(json.dumps(info))
    with pytest.raises(MiniPaperError, match="says 'scratch'"):
        paper.check_arm(run)


def test_finished_finetunes_of_an_earlier_pretraining_are_refused(in_repo, tmp_path):
    from mmscratch.utils.run_files import write_curve
    paper = MiniPaper(TOY, str(tmp_path / 'w'), str(tmp_path), str(tmp_path))
    runs = paper.figure1_runs()
    paper.refuse_stale_finetunes(runs)  # nothing trained yet: fine
    for run in runs[:2]:  # a finished scratch run and a finished pretrained run
        Path(run.work_dir).mkdir(parents=True)
        (Path(run.work_dir) / 'curve_meta.json').write_text(json.dumps(dict(max_iters=3)))
        write_curve(str(Path(run.work_dir) / 'curve.jsonl'), [dict(iter=3, bbox_mAP=0.1)])
    with pytest.raises(MiniPaperError, match='earlier backbone.*pretrained_seed0'):
        paper.refuse_stale_finetunes(runs)
    paper.refuse_stale_finetunes([runs[0]])  # scratch runs do not depend on it


def test_pretrain_set_made_with_other_parameters_is_not_overwritten(in_repo, tmp_path):
    from mmscratch.datasets.pretrain_set import generate_pretrain_dataset
    from mmscratch.datasets.shapes import generate_shapes_dataset
    paper = MiniPaper(TOY, str(tmp_path / 'w'), str(tmp_path / 'd'), str(tmp_path / 'p'))
    plan = paper.plan
    generate_shapes_dataset(str(tmp_path / 'd'), num_train=plan.shapes_train,
                            num_val=plan.shapes_val, image_size=128, seed=plan.data_seed,
                            min_instances=1, max_instances=6)
    generate_pretrain_dataset(str(tmp_path / 'p'), num_train=plan.pretrain_train + 1,
                              num_val=plan.pretrain_val, image_size=plan.pretrain_image_size,
                              seed=plan.data_seed)
    listing = sorted(str(f) for f in (tmp_path / 'p').rglob('*'))
    with pytest.raises(MiniPaperError, match='another --pretrain-data-root'):
        paper.make_data()
    assert sorted(str(f) for f in (tmp_path / 'p').rglob('*')) == listing


def test_logged_run_time_adds_every_attempt_of_a_resumed_run(tmp_path):
    from mmscratch.apis.mini_paper import logged_run_seconds
    run = tmp_path / 'run'
    first = run / '20261207_101500'
    second = run / '20261207_120000'
    first.mkdir(parents=True)
    second.mkdir()
    (first / '20261207_101500.log').write_text(
        '2026/12/07 10:15:00 - mmengine - INFO - start\n'
        'a traceback line without a stamp\n'
        '2026/12/07 10:20:30 - mmengine - INFO - Iter(train) [ 500/1500]\n')
    (second / '20261207_120000.log').write_text(
        '2026/12/07 12:00:00 - mmengine - INFO - resumed\n'
        '2026/12/07 12:10:00 - mmengine - INFO - Iter(train) [1500/1500]\n')
    (run / 'not_a_run_log.log').write_text('2026/12/07 00:00:00 - x\n2026/12/07 23:00:00 - x\n')
    (run / '20261207_130000').mkdir()
    (run / '20261207_130000' / '20261207_130000.log').symlink_to(run / 'not_a_run_log.log')
    (run / '20261207_140000').mkdir()
    os.mkfifo(run / '20261207_140000' / '20261207_140000.log')
    (run / '20261207_150000').mkdir()
    (run / '20261207_150000' / '20261207_150000.log').write_text(
        '2026/13/45 10:00:00 - mmengine - INFO - no such date\n'
        '2026/12/07 23:00:00 - mmengine - INFO - x\n')
    (run / '20261207_160000').mkdir()
    (run / '20261207_160000' / '20261207_160000.log').write_text(
        '2026/12/07 16:00:00 - mmengine - INFO - clock set back\n'
        '2026/12/07 15:00:00 - mmengine - INFO - x\n')
    assert logged_run_seconds(str(run)) == 330 + 600
    assert logged_run_seconds(str(tmp_path / 'missing')) == 0


def test_a_finished_run_of_another_schedule_or_seed_is_not_reported(in_repo, tmp_path):
    paper = MiniPaper(TOY, str(tmp_path / 'w'), str(tmp_path), str(tmp_path))
    run = paper.figure1_runs()[0]
    assert run.arm == 'scratch'
    Path(run.work_dir).mkdir(parents=True)
    total = paper.schedules[run.multiple]['total_iters']
    info = dict(config_name='mask_rcnn_gn_shapes', arm='scratch', pretrained_sources=[],
                max_iters=total, seed=run.seed)
    (Path(run.work_dir) / 'run_info.json').write_text(json.dumps(info))
    paper.check_arm(run)
    for field, wrong in (('max_iters', total * 2), ('seed', run.seed + 1)):
        (Path(run.work_dir) / 'run_info.json').write_text(json.dumps({**info, field: wrong}))
        with pytest.raises(MiniPaperError, match=f'{field}={wrong}.*another --work-root'):
            paper.check_arm(run)


def test_small_data_schedule_is_a_flag_checked_against_the_multiples(in_repo, tmp_path):
    args = ['--work-root', str(tmp_path / 'w'), '--data-root', str(tmp_path / 'd'),
            '--pretrain-data-root', str(tmp_path / 'p')]
    plan = plan_from_args(build_parser().parse_args(args + ['--small-data-multiple', '2']))
    paper = MiniPaper(plan, str(tmp_path / 'w'), str(tmp_path / 'd'), str(tmp_path / 'p'))
    assert {r.multiple for r in paper.small_data_runs()} == {2.0}
    # beside the default sweep's runs, not over them
    assert paper.small_root == str(tmp_path / 'w' / 'small_data_2x')
    assert all(r.work_dir.startswith(paper.small_root + '/') for r in paper.small_data_runs())
    assert all('train_cfg.schedule.total_iters=3000' in r.options
               for r in paper.small_data_runs())
    plan = plan_from_args(build_parser().parse_args(args + ['--small-data-multiple', '3']))
    with pytest.raises(MiniPaperError, match='among --multiples'):
        MiniPaper(plan, str(tmp_path / 'w'), str(tmp_path / 'd'), str(tmp_path / 'p'))
