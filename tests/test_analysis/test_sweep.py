"""The small-data sweep: planning, report, and a real end-to-end sweep on tiny subsets."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from mmscratch.analysis import sweep as sweep_module
from mmscratch.analysis.compare import RunResult, parse_config_name
from mmscratch.utils.run_files import write_curve
from mmscratch.analysis.sweep import (plan_sweep, run_is_complete, run_sweep, sweep_markdown,
                                      sweep_rows, train_run, write_report)

from .conftest import short_run_options

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py')
sys.path.insert(0, str(REPO / 'tools'))
import small_data_sweep as sweep_tool  # noqa: E402


def test_plan_sets_the_subset_and_keeps_arm_options_last(tmp_path):
    runs = plan_sweep('configs/small_data/mask_rcnn_r50_gn_{size}_scratch.py',
                      'configs/small_data/mask_rcnn_r50_gn_{size}_pretrained.py',
                      [3500, 1000], str(tmp_path), cfg_options=['a=1'],
                      cfg_options_pretrained=['a=2'])
    assert [(r.tag, r.arm) for r in runs] == [('1k', 'scratch'), ('1k', 'pretrained'),
                                              ('3.5k', 'scratch'), ('3.5k', 'pretrained')]
    assert runs[0].config == 'configs/small_data/mask_rcnn_r50_gn_1k_scratch.py'
    assert runs[3].work_dir == str(tmp_path / '3.5k' / 'pretrained')
    options = runs[1].cfg_options
    assert options[0] == f'train_dataloader.dataset.ann_file={tmp_path}/subsets/instances_1k.json'
    assert options.index('a=1') < options.index('a=2')  # the arm's own override wins
    assert len({r.cfg_options[-1] for r in runs}) == 4  # unique experiment names
    argv = runs[0].train_argv()
    assert argv[:4] == [runs[0].config, '--work-dir', runs[0].work_dir, '--cfg-options']


def test_dry_run_prints_commands_and_writes_nothing(tmp_path):
    lines = []
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(images=[], annotations=[], categories=[])))
    result = run_sweep(DEMO, DEMO, str(ann), [8, 16], str(tmp_path / 'root'),
                       dry_run=True, log=lines.append)
    assert len(result.runs) == 4 and result.files == []
    assert sum(line.startswith('python tools/train.py') for line in lines) == 4
    assert not (tmp_path / 'root').exists()
    # what a run would need is checked in a dry run too
    with pytest.raises(FileNotFoundError, match='missing.json'):
        run_sweep(DEMO, DEMO, str(tmp_path / 'missing.json'), [8], str(tmp_path / 'root'),
                  dry_run=True, log=lines.append)
    with pytest.raises(FileNotFoundError, match='no_such_config'):
        run_sweep('no_such_config.py', DEMO, str(ann), [8], str(tmp_path / 'root'),
                  dry_run=True, log=lines.append)


def test_run_is_complete_only_at_the_last_iteration(tmp_path):
    assert not run_is_complete(str(tmp_path))
    (tmp_path / 'curve_meta.json').write_text(json.dumps(dict(max_iters=100)))
    write_curve(str(tmp_path / 'curve.jsonl'), [dict(iter=50, bbox_mAP=0.1)])
    assert not run_is_complete(str(tmp_path))
    write_curve(str(tmp_path / 'curve.jsonl'), [dict(iter=50), dict(iter=100, bbox_mAP=0.2)])
    assert run_is_complete(str(tmp_path))


def test_each_run_trains_in_its_own_process_by_default(tmp_path, monkeypatch):
    run = plan_sweep(DEMO, DEMO, [8], str(tmp_path))[0]
    calls = []

    def fake_run(argv, stdout, stderr):
        calls.append(argv)
        stdout.write('Traceback: out of memory\n')
        return subprocess.CompletedProcess(argv, len(calls) - 1)

    monkeypatch.setattr(sweep_module.subprocess, 'run', fake_run)
    train_run(run)  # exit 0
    assert calls[0][:2] == [sys.executable, '-c'] and calls[0][3:] == run.train_argv()
    with pytest.raises(RuntimeError, match='out of memory'):
        train_run(run)  # exit 1: the error carries the end of the run's log
    assert (Path(run.work_dir) / 'train.log').is_file()


def _result(name, arm, best, best_iter, final):
    return RunResult(work_dir=name, config_name=name, key=parse_config_name(name), arm=arm,
                     schedule='x', iters=best_iter, bbox=final, best_bbox=best,
                     best_bbox_iter=best_iter, best_segm=best - 3)


def test_report_table_and_plot(tmp_path):
    results = {
        (1000, 'scratch'): _result('mask_rcnn_r50_gn_1k_scratch', 'scratch', 3.0, 60000, 2.5),
        (1000, 'pretrained'): _result('mask_rcnn_r50_gn_1k_pretrained', 'pretrained', 9.5,
                                      8000, 8.0),
        # the 10k config swept at 35k: not the paper's 35k setting, no number shown
        (35_000, 'scratch'): _result('mask_rcnn_r50_gn_10k_scratch', 'scratch', 36.0, 1, 36.0),
    }
    rows = sweep_rows(results)
    assert [r['size'] for r in rows] == [1000, 35_000]
    assert rows[0]['gap'] == pytest.approx(-6.5)
    assert rows[0]['scratch_paper_bbox'] == 3.5 and rows[0]['pretrained_paper_bbox'] == 9.9
    assert rows[1]['scratch_paper_bbox'] is None and rows[1]['gap'] is None
    md = sweep_markdown(rows)
    assert '| 1,000 | 3.0 (60000) (paper 3.5) | 2.5 | 9.5 (8000) (paper 9.9) | 8.0 | -6.5 |' in md
    assert '| 35,000 | 36.0 (1) | 36.0 | – | – | – |' in md
    files = write_report(results, str(tmp_path))
    assert [Path(f).name for f in files] == ['sweep.md', 'sweep.csv', 'sweep.json',
                                             'sweep.png', 'sweep.svg']
    assert mpimg.imread(str(tmp_path / 'sweep.png')).ndim == 3


@pytest.mark.slow
def test_sweep_end_to_end_on_tiny_subsets(demo_data, demo_runs, tmp_path):
    """tools/small_data_sweep.py --in-process: 8- and 16-image subsets, both arms,
    4 iterations each.

    The "pretrained" arm starts from the checkpoint of an earlier demo run
    (no ImageNet download here): the machinery is what is under test.
    """
    root = tmp_path / 'sweep'
    options = short_run_options(demo_data, total_iters=4, eval_iters=[4], drops=(2, 1),
                                checkpoint_interval=4)
    checkpoint = demo_runs['a'] / 'iter_12.pth'
    # the tool's main() in this process: the same code path as the command line
    # without a second start-up of torch and MMDetection
    argv = ['--config-scratch', DEMO, '--config-pretrained', DEMO,
            '--ann-file', f'{demo_data}annotations/instances_train.json',
            '--sizes', '8', '16', '--work-root', str(root), '--in-process',
            '--cfg-options', *options,
            # the demo's guard rightly refuses a load_from run as "scratch"
            '--cfg-options-pretrained', f'load_from={checkpoint}', 'custom_hooks.2.strict=False']
    result = sweep_tool.main(argv)
    assert [(r.size, r.arm) for r in result.runs] == [(8, 'scratch'), (8, 'pretrained'),
                                                      (16, 'scratch'), (16, 'pretrained')]

    subsets = [json.loads((root / 'subsets' / f'instances_{n}.json').read_text()) for n in (8, 16)]
    small, large = ({i['id'] for i in s['images']} for s in subsets)
    assert len(small) == 8 and len(large) == 16 and small < large
    for size in ('8', '16'):
        for arm in ('scratch', 'pretrained'):
            work_dir = root / size / arm
            assert run_is_complete(str(work_dir)), work_dir
            dumped = (work_dir / 'mask_rcnn_gn_shapes.py').read_text()
            assert f'subsets/instances_{size}.json' in dumped
            init = f"load_from = '{checkpoint}'" if arm == 'pretrained' else 'load_from = None'
            assert init in dumped
    rows = list(csv.DictReader((root / 'sweep.csv').open()))
    assert [r['size'] for r in rows] == ['8', '16']
    for row in rows:
        for arm in ('scratch', 'pretrained'):
            assert 0.0 <= float(row[f'{arm}_best_bbox']) <= 100.0
            assert 0.0 <= float(row[f'{arm}_best_segm']) <= 100.0
        assert row['pretrained_iters'] == '4' and row['scratch_config'] == 'mask_rcnn_gn_shapes'
    assert (root / 'sweep.md').read_text().startswith('## AP vs training-set size')
    assert (root / 'sweep.png').read_bytes()[:4] == b'\x89PNG'

    # the same command again trains nothing and rewrites the report
    lines = []
    again = run_sweep(DEMO, DEMO, f'{demo_data}annotations/instances_train.json', [8, 16],
                      str(root), log=lines.append)
    assert sum('not trained again' in line for line in lines) == 4
    assert len(again.results) == 4
