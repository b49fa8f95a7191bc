"""tools/small_data_sweep.py: planning, one process per run, the dry run, and a
real end-to-end sweep on tiny subsets."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmscratch.analysis.sweep import run_is_complete
from mmscratch.apis import launch as launch_module
from mmscratch.apis.small_data_sweep import plan_sweep, run_sweep, train_run
from mmscratch.testing.fixtures import short_run_options

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


def test_each_run_trains_in_its_own_process_by_default(tmp_path, monkeypatch):
    run = plan_sweep(DEMO, DEMO, [8], str(tmp_path))[0]
    calls = []

    def fake_run(argv, stdout, stderr):
        calls.append(argv)
        stdout.write('Traceback: out of memory\n')
        return subprocess.CompletedProcess(argv, len(calls) - 1)

    monkeypatch.setattr(launch_module.subprocess, 'run', fake_run)
    train_run(run)  # exit 0
    assert calls[0][:2] == [sys.executable, '-c'] and calls[0][3:] == run.train_argv()
    with pytest.raises(RuntimeError, match='out of memory'):
        train_run(run)  # exit 1: the error carries the end of the run's log
    assert (Path(run.work_dir) / 'train.log').is_file()


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
