"""The small-data sweep's report: completeness of a run, the table and the plot."""
import json
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from mmscratch.analysis.compare import RunResult
from mmscratch.analysis.config_names import parse_config_name
from mmscratch.analysis.sweep import run_is_complete, sweep_markdown, sweep_rows, write_report
from mmscratch.utils.run_files import write_curve


def test_run_is_complete_only_at_the_last_iteration(tmp_path):
    assert not run_is_complete(str(tmp_path))
    (tmp_path / 'curve_meta.json').write_text(json.dumps(dict(max_iters=100)))
    write_curve(str(tmp_path / 'curve.jsonl'), [dict(iter=50, bbox_mAP=0.1)])
    assert not run_is_complete(str(tmp_path))
    write_curve(str(tmp_path / 'curve.jsonl'), [dict(iter=50), dict(iter=100, bbox_mAP=0.2)])
    assert run_is_complete(str(tmp_path))


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
