"""The scratch-vs-pretrained tables: name parsing, paper lookup, run reading, CLI."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmscratch.analysis.compare import find_run_dirs, load_run, load_runs, to_markdown, write_csv
from mmscratch.utils.run_files import write_curve
from mmscratch.analysis.paper_reference import (BOX_AP_BY_SCHEDULE, SMALL_DATA,
                                                reference_ap, reference_markdown)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import compare_runs as compare_tool  # noqa: E402

SCRATCH = dict(arm='scratch')
PRETRAINED = dict(arm='pretrained',
                  pretrained_sources=['model.backbone.init_cfg: Pretrained(open-mmlab://'
                                      'detectron/resnet50_gn)'])


def make_run(root, name, config_name, run_info, aps, total=540_000, meta=True):
    """A work dir as training leaves it: curve, curve meta, run info (as the hooks
    write them), and the config MMEngine dumps (never read by the tools)."""
    run = root / name
    run.mkdir(parents=True)
    records = [dict(iter=total * (i + 1) // len(aps), images_seen=16 * total * (i + 1) // len(aps),
                    lr_steps=[], bbox_mAP=b, segm_mAP=s) for i, (b, s) in enumerate(aps)]
    write_curve(str(run / 'curve.jsonl'), records)
    if meta:
        (run / 'curve_meta.json').write_text(json.dumps(dict(config_name=config_name,
                                                             max_iters=total)))
    if run_info is not None:
        (run / 'run_info.json').write_text(json.dumps(dict(
            config_name=config_name, max_iters=total, **run_info)))
    (run / f'{config_name}.py').write_text("raise SystemExit('the dumped config was executed')\n")
    return run


def test_reference_numbers_come_from_the_paper_table():
    assert reference_ap('mask_rcnn', 'r50', 'gn', 'scratch', '6x') == dict(bbox=41.3, segm=36.6)
    assert reference_ap('mask_rcnn', 'r50', 'gn', 'pretrained', '2x') == dict(bbox=40.3, segm=None)
    assert reference_ap('mask_rcnn', 'r101', 'gn', 'scratch', '4x')['bbox'] == 41.8
    # R101 pretrained is best at both 3x and 4x: its mask AP belongs to neither cell
    assert reference_ap('mask_rcnn', 'r101', 'gn', 'pretrained', '3x') == dict(bbox=42.3, segm=None)
    assert reference_ap('mask_rcnn', 'r50', 'gn', 'scratch', data=1000)['bbox'] == 3.5
    assert reference_ap('mask_rcnn', 'r50', 'gn', 'pretrained', data=35_000)['bbox'] == 36.3
    # settings the paper has no single number for
    none = dict(bbox=None, segm=None)
    assert reference_ap('faster_rcnn', 'r50', 'gn', 'scratch', '6x') == none
    assert reference_ap('mask_rcnn', 'r50', 'syncbn', 'scratch', '6x') == none
    assert reference_ap('mask_rcnn', 'r50', 'gn', 'scratch', '9x', aug='ms') == none
    assert reference_ap('mask_rcnn', 'r50', 'gn', 'scratch', '1x') == none
    with pytest.raises(ValueError):
        reference_ap('mask_rcnn', 'r50', 'gn', 'finetuned', '6x')
    table = reference_markdown()
    assert '| Mask R-CNN R50 GN random init | 36.8 | 39.5 | 40.6 | 40.7 | 41.3 |' in table
    assert '3.5 (5.4 tuned)' in table
    assert len(BOX_AP_BY_SCHEDULE) == 4 and set(SMALL_DATA) == {1000, 3500, 10_000, 35_000}


def test_arm_comes_from_run_info_not_the_file_name(tmp_path):
    # configs/scratch/x.py and configs/pretrained/x.py share a file name
    name = 'mask_rcnn_r50_gn_6x'
    scratch = make_run(tmp_path, 's', name, SCRATCH, [(0.3, 0.25), (0.412, 0.364)])
    pre = make_run(tmp_path, 'p', name, PRETRAINED, [(0.40, 0.35), (0.409, 0.362)])
    unknown = make_run(tmp_path, 'u', 'my_detector_pretrained', None, [(0.1, 0.1)])
    plain = make_run(tmp_path, 'n', 'mask_rcnn_gn_shapes', None, [(0.1, 0.1)])
    assert load_run(str(scratch)).arm == 'scratch'
    assert load_run(str(pre)).arm == 'pretrained'
    assert load_run(str(unknown)).arm == 'pretrained'  # no run info: the name says so
    assert load_run(str(plain)).arm == 'scratch'
    result = load_run(str(scratch))
    assert result.bbox == pytest.approx(41.2) and result.segm == pytest.approx(36.4)
    assert result.best_bbox_iter == 540_000 and result.schedule == '6x'
    assert result.reference == dict(bbox=41.3, segm=36.6)


def test_names_from_json_that_could_be_paths_are_ignored(tmp_path):
    run = make_run(tmp_path, 'downloaded', 'mask_rcnn_r50_gn_6x', SCRATCH, [(0.2, 0.2)])
    for bad in ('../../etc/passwd', 'a/b', '..', '', 42, ['x']):
        for file in ('run_info.json', 'curve_meta.json'):
            (run / file).write_text(json.dumps(dict(config_name=bad, arm='x', max_iters=-1)))
        result = load_run(str(run))
        assert result.config_name == 'downloaded'
        assert result.arm == 'scratch' and result.schedule == '?'


@pytest.mark.slow
def test_compare_runs_never_executes_a_work_dir(tmp_path):
    """A work dir with booby-trapped .py files (at the dumped config's name, and
    in its log folder): reading it with the tool must not run them."""
    sentinel = tmp_path / 'pwned'
    trap = f"open({str(sentinel)!r}, 'w').write('ran')\n"
    run = make_run(tmp_path / 'runs', 'r', 'mask_rcnn_r50_gn_6x', SCRATCH, [(0.412, 0.364)])
    (run / 'mask_rcnn_r50_gn_6x.py').write_text(trap)
    (run / '20240101_000000' / 'vis_data').mkdir(parents=True)
    (run / '20240101_000000' / 'vis_data' / 'config.py').write_text(trap)
    other = make_run(tmp_path / 'runs', 'q', 'faster_rcnn_r50_gn_2x', None, [(0.3, 0.3)],
                     meta=False)
    (other / 'faster_rcnn_r50_gn_2x.py').write_text(trap)
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'compare_runs.py'),
                           str(tmp_path / 'runs'), '--out-csv', str(tmp_path / 't.csv')],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not sentinel.exists()
    assert '41.2 (41.3)' in proc.stdout


def test_scalars_json_is_the_fallback_without_a_curve(tmp_path):
    run = tmp_path / 'old_run'
    (run / '20240101_000000' / 'vis_data').mkdir(parents=True)
    lines = [dict(loss=1.0, step=10), {'coco/bbox_mAP': 0.2, 'coco/segm_mAP': 0.18, 'step': 90000},
             {'coco/bbox_mAP': 0.35, 'coco/segm_mAP': 0.31, 'step': 180000}]
    (run / '20240101_000000' / 'vis_data' / 'scalars.json').write_text(
        '\n'.join(json.dumps(x) for x in lines) + '\n')
    (run / 'run_info.json').write_text(json.dumps(dict(config_name='faster_rcnn_r50_gn_2x')))
    result = load_run(str(run))
    assert result.source == 'scalars'
    assert result.config_name == 'faster_rcnn_r50_gn_2x'
    assert (result.bbox, result.segm, result.iters) == (35.0, 31.0, 180000)
    assert result.reference == dict(bbox=None, segm=None)  # no Faster R-CNN numbers


def test_tables_put_scratch_and_pretrained_side_by_side(tmp_path):
    runs = tmp_path / 'runs'
    make_run(runs, 's6', 'mask_rcnn_r50_gn_6x', SCRATCH, [(0.3, 0.2), (0.412, 0.364)])
    make_run(runs, 'p6', 'mask_rcnn_r50_gn_6x', PRETRAINED, [(0.409, 0.362)])
    make_run(runs, 's2', 'mask_rcnn_r50_gn_2x', SCRATCH, [(0.37, 0.33)], total=180_000)
    make_run(tmp_path / 'runs' / 'small', 's10k', 'mask_rcnn_r50_gn_10k_scratch', SCRATCH,
             [(0.2, 0.18), (0.26, 0.23), (0.25, 0.22)], total=220_000)
    make_run(tmp_path / 'runs' / 'small', 'p10k', 'mask_rcnn_r50_gn_10k_pretrained',
             PRETRAINED, [(0.255, 0.23), (0.24, 0.22)], total=60_000)
    results = load_runs([str(tmp_path / 'runs')])
    assert len(results) == 5
    md = to_markdown(results)
    rows = {line.split('|')[3].strip() + '@' + line.split('|')[2].strip(): line
            for line in md.splitlines() if line.startswith('| Mask R-CNN')}
    assert set(rows) == {'2x@full', '6x@full', 'scratch: 220k it / pretrained: 60k it@10,000'}
    six = [c.strip() for c in rows['6x@full'].split('|')]
    assert six[4:10] == ['41.2 (41.3)', '40.9 (41.1)', '+0.3', '36.4 (36.6)', '36.2 (36.4)', '']
    two = [c.strip() for c in rows['2x@full'].split('|')]
    assert two[4:6] == ['37.0 (36.8)', '– (40.3)']  # the paper's number for the arm not run
    # small data: final AP by default, the best along the curve with best=True
    small = [c.strip() for c in rows['scratch: 220k it / pretrained: 60k it@10,000'].split('|')]
    assert small[4:6] == ['25.0 (25.9)', '24.0 (26.0)']
    best = to_markdown(results, best=True)
    assert '| 26.0 (25.9) | 25.5 (26.0) | +0.5 |' in best
    assert '26.0 (146666)' in md  # the per-run table shows the peak and where it is
    out = tmp_path / 'c.csv'
    write_csv(results, str(out))
    rows_csv = list(csv.DictReader(out.open()))
    assert len(rows_csv) == 5
    p6 = next(r for r in rows_csv if r['work_dir'].endswith('p6'))
    assert (p6['arm'], p6['bbox_mAP'], p6['paper_bbox_mAP'], p6['paper_segm_mAP']) == \
        ('pretrained', '40.9', '41.1', '36.4')


def test_find_run_dirs_does_not_descend_into_runs(tmp_path):
    run = make_run(tmp_path, 'r', 'x', SCRATCH, [(0.1, 0.1)])
    (run / '20240101_000000' / 'vis_data').mkdir(parents=True)
    (run / '20240101_000000' / 'vis_data' / 'scalars.json').write_text('')
    (tmp_path / 'empty').mkdir()
    assert find_run_dirs([str(tmp_path)]) == [str(run)]
    assert find_run_dirs([str(tmp_path / 'empty')]) == []
    with pytest.raises(FileNotFoundError):
        find_run_dirs([str(tmp_path / 'missing')])


def test_cli_writes_markdown_and_csv(tmp_path, capsys):
    make_run(tmp_path / 'runs', 's', 'mask_rcnn_r50_gn_6x', SCRATCH, [(0.412, 0.364)])
    md, table = tmp_path / 'c.md', tmp_path / 'c.csv'
    compare_tool.main([str(tmp_path / 'runs'), '--out-md', str(md), '--out-csv', str(table)])
    assert '41.2 (41.3)' in capsys.readouterr().out
    assert md.read_text().startswith('## Scratch vs ImageNet-pretrained')
    assert table.read_text().splitlines()[0].startswith('work_dir,config_name')
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='no run found'):
        compare_tool.main([str(empty)])


@pytest.mark.slow
def test_tool_on_real_demo_runs(demo_runs, tmp_path):
    """``tools/compare_runs.py`` as users run it, on the folder of two real runs."""
    md, table = tmp_path / 'compare.md', tmp_path / 'compare.csv'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'compare_runs.py'), str(demo_runs['a'].parent),
         '--out-md', str(md), '--out-csv', str(table)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(table.open()))
    assert [Path(r['work_dir']).name for r in rows] == ['a', 'b']
    for row, iters, images in zip(rows, (12, 6), (48, 24)):
        assert row['config_name'] == 'mask_rcnn_gn_shapes' and row['arm'] == 'scratch'
        assert (int(row['iters']), int(row['images_seen'])) == (iters, images)
        assert row['schedule'] == f'{iters} it' and row['source'] == 'curve'
        assert 0.0 <= float(row['bbox_mAP']) <= 100.0
        assert row['paper_bbox_mAP'] == ''  # the demo is no paper setting
    text = md.read_text()
    assert '| mask_rcnn_gn_shapes | full | 6 it |' in text
    assert '| mask_rcnn_gn_shapes | full | 12 it |' in text


@pytest.mark.slow
def test_hostile_curve_and_scalars_records_are_skipped_not_trusted(tmp_path):
    run = tmp_path / 'runs' / 'mask_rcnn_r50_gn_6x'
    (run / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (run / 'run_info.json').write_text('{"max_iters": ' + '9' * 5000 + '}')
    (run / 'curve.jsonl').write_text('\n'.join([
        '[1, 2]', '{"iter": "10", "bbox_mAP": 0.9}', '{"iter": 20, "bbox_mAP": "0.9"}',
        '{"iter": 30, "bbox_mAP": 0.25, "images_seen": "many"}']) + '\n')
    (run / '20260101_000000' / 'vis_data' / 'scalars.json').write_text('[1]\n"x"\n')
    result = load_run(str(run))
    assert (result.iters, result.bbox, result.images_seen) == (30, 25.0, None)
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'compare_runs.py'),
                           str(tmp_path / 'runs')], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]


def test_numbers_no_run_can_have_are_dropped_not_shown(tmp_path):
    """NaN, Infinity, an AP of 7 (700 %) or 1e308 (inf %), a 300-digit count:
    shown, each would be a wrong number; they are no value at all."""
    run = tmp_path / 'mask_rcnn_r50_gn_6x'
    run.mkdir()
    (run / 'run_info.json').write_text(json.dumps(dict(max_iters=10 ** 300, arm='scratch')))
    (run / 'curve.jsonl').write_text('\n'.join([
        '{"iter": 10, "bbox_mAP": 0.2, "segm_mAP": 0.1}',
        '{"iter": 20, "bbox_mAP": NaN, "segm_mAP": Infinity}',
        '{"iter": 30, "bbox_mAP": 7, "segm_mAP": 1e308, "images_seen": ' + '9' * 300 + '}',
        '{"iter": ' + '9' * 30 + ', "bbox_mAP": 0.9}']) + '\n')
    result = load_run(str(run))
    assert (result.iters, result.bbox, result.segm, result.images_seen) == (30, None, None, None)
    assert (result.best_bbox, result.best_bbox_iter, result.best_segm) == (20.0, 10, 10.0)
    text = to_markdown([result])
    assert 'inf' not in text and 'nan' not in text and '700' not in text and '9' * 30 not in text


def test_names_of_work_dirs_cannot_forge_table_rows_or_terminal_codes(tmp_path):
    name = 'run\x1b]0;owned\x07\n| forged | row |'
    make_run(tmp_path, name, 'mask_rcnn_r50_gn_6x', SCRATCH, [(0.3, 0.2)])
    (tmp_path / name / 'run_info.json').unlink()
    (tmp_path / name / 'curve_meta.json').unlink()  # the name comes from the directory
    text = to_markdown(load_runs([str(tmp_path)]))
    assert '\x1b' not in text and '\x07' not in text
    forged = [line for line in text.splitlines() if 'forged' in line]
    # one row in each table (not split by the newline), the name's pipes escaped
    assert len(forged) == 2 and all(r'run?]0;owned??\| forged \| row \|' in line
                                    for line in forged), text


def test_fifos_planted_in_a_work_dir_do_not_hang_the_tools(tmp_path):
    """Opening a FIFO for reading blocks until someone writes to it."""
    run = make_run(tmp_path, 'mask_rcnn_r50_gn_6x', 'mask_rcnn_r50_gn_6x', SCRATCH,
                   [(0.3, 0.2)])
    other = tmp_path / 'other'
    (other / '20260101_000000' / 'vis_data').mkdir(parents=True)
    os.mkfifo(other / '20260101_000000' / 'vis_data' / 'scalars.json')
    for name in ('run_info.json', 'curve_meta.json'):
        (run / name).unlink()
        os.mkfifo(run / name)
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'compare_runs.py'),
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    assert '| mask_rcnn_r50_gn_6x |' in proc.stdout and '30.0' in proc.stdout


def test_outputs_are_never_written_through_a_planted_link(tmp_path):
    make_run(tmp_path / 'runs', 'mask_rcnn_r50_gn_6x', 'mask_rcnn_r50_gn_6x', SCRATCH,
             [(0.3, 0.2)])
    victims = [tmp_path / 'victim_md', tmp_path / 'victim_csv']
    for victim in victims:
        victim.write_text('keep me')
    (tmp_path / 'out.md').symlink_to(victims[0])
    (tmp_path / 'out.csv').symlink_to(victims[1])
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'compare_runs.py'),
                           str(tmp_path / 'runs'), '--out-md', str(tmp_path / 'out.md'),
                           '--out-csv', str(tmp_path / 'out.csv')], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all(v.read_text() == 'keep me' for v in victims)
    assert not (tmp_path / 'out.md').is_symlink() and '30.0' in (tmp_path / 'out.md').read_text()
    assert 'mask_rcnn_r50_gn_6x' in (tmp_path / 'out.csv').read_text()


def test_schedules_are_ordered_by_length_not_as_text(tmp_path):
    runs = tmp_path / 'runs'
    for total in (3000, 375, 1500, 750):
        make_run(runs, f's{total}', 'mask_rcnn_gn_shapes', SCRATCH, [(0.3, 0.3)], total=total)
    md = to_markdown(load_runs([str(runs)]))
    schedules = [line.split('|')[3].strip() for line in md.split('## Runs')[0].splitlines()
                 if line.startswith('| mask_rcnn_gn_shapes')]
    assert schedules == ['375 it', '750 it', '1500 it', '3k it']
