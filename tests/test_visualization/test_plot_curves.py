"""Figure 1 (AP vs iterations / images seen): synthetic curves, then the CLI on real runs."""
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from mmscratch.utils.run_files import read_curve, write_curve
from mmscratch.visualization.curves import plot_curves, plot_runs

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import plot_curves as plot_tool  # noqa: E402


def _records(total, steps, batch, aps):
    """A curve evaluated at evenly spaced iterations with the given box APs."""
    n = len(aps)
    return [dict(iter=total * (i + 1) // n, images_seen=total * (i + 1) // n * batch,
                 lr_steps=list(steps), bbox_mAP=ap, segm_mAP=ap * 0.9 if ap >= 0 else -1.0,
                 wall_time_s=float(i)) for i, ap in enumerate(aps)]


def _run_dir(root, name, config_name, records):
    run = root / name
    run.mkdir()
    write_curve(str(run / 'curve.jsonl'), records)
    (run / 'curve_meta.json').write_text(json.dumps(dict(config_name=config_name)))
    return run


def test_one_line_per_run_and_metric_with_lr_markers(tmp_path):
    runs = {'scratch_6x': _records(540, (480, 520), 16, [0.1, 0.3, 0.41]),
            'pretrained_2x': _records(180, (120, 160), 16, [0.3, 0.4])}
    plot = plot_curves(runs, str(tmp_path / 'fig.png'), data_path=str(tmp_path / 'fig.json'))
    assert plot.num_lines == 4  # 2 runs x (bbox, segm)
    assert plot.labels() == ['scratch_6x', 'pretrained_2x']
    assert plot.lr_markers == {'scratch_6x': [480.0, 520.0], 'pretrained_2x': [120.0, 160.0]}
    first = plot.series[0]
    assert first['metric'] == 'bbox_mAP' and first['y'] == pytest.approx([10, 30, 41])
    png = tmp_path / 'fig.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert mpimg.imread(str(png)).shape[:2] == (495, 770)  # 7 x 4.5 in at 110 dpi
    assert (tmp_path / 'fig.svg').read_text().lstrip().startswith('<?xml')
    saved = json.loads((tmp_path / 'fig.json').read_text())
    assert len(saved['series']) == 4 and saved['x'] == 'iter'


def test_images_axis_maps_lr_drops_through_the_batch(tmp_path):
    runs = {'r': _records(100, (60, 80), 8, [0.2, 0.3])}
    plot = plot_curves(runs, str(tmp_path / 'fig.png'), x='images', metrics=('bbox_mAP',))
    assert plot.series[0]['x'] == [400, 800]
    assert plot.lr_markers['r'] == [480.0, 640.0]


def test_negative_ap_is_not_a_point_and_nothing_to_plot_raises(tmp_path):
    runs = {'r': _records(30, (), 4, [-1.0, 0.2])}
    plot = plot_curves(runs, str(tmp_path / 'fig.png'), metrics=('bbox_mAP',))
    assert plot.series[0]['x'] == [30]
    with pytest.raises(ValueError, match='no AP'):
        plot_curves({'r': _records(30, (), 4, [-1.0])}, str(tmp_path / 'x.png'),
                    metrics=('bbox_mAP',))
    with pytest.raises(ValueError, match='x must be'):
        plot_curves(runs, str(tmp_path / 'x.png'), x='epoch')


def test_plot_runs_keeps_its_original_return_value(tmp_path):
    files = plot_runs({'r': _records(30, (20,), 4, [0.1, 0.2])}, str(tmp_path / 'c.png'))
    assert files == [str(tmp_path / 'c.png'), str(tmp_path / 'c.svg')]


def test_cli_labels_from_config_names_and_disambiguates_duplicates(tmp_path, capsys):
    six = 'mask_rcnn_r50_gn_6x'
    a = _run_dir(tmp_path, 'seed0', six, _records(540, (480, 520), 16, [0.3, 0.4]))
    b = _run_dir(tmp_path, 'seed1', six, _records(540, (480, 520), 16, [0.2, 0.4]))
    c = _run_dir(tmp_path, 'pre', 'mask_rcnn_r50_gn_2x', _records(180, (120, 160), 16, [0.35, 0.4]))
    plot = plot_tool.main([str(a), str(b), str(c), '--metrics', 'bbox', '--out',
                           str(tmp_path / 'out' / 'f.png'), '--title', 'Figure 1'])
    assert plot.labels() == ['mask_rcnn_r50_gn_6x [seed0]', 'mask_rcnn_r50_gn_6x [seed1]',
                             'mask_rcnn_r50_gn_2x']
    assert plot.num_lines == 3
    out = capsys.readouterr().out
    assert 'wrote' in out and 'f.json' in out


def test_cli_fails_cleanly_without_a_curve(tmp_path):
    with pytest.raises(ValueError, match='no convergence curve'):
        plot_tool.main([str(tmp_path), '--out', str(tmp_path / 'f.png')])


@pytest.mark.slow
def test_tool_on_real_demo_runs(demo_runs, tmp_path):
    """``tools/plot_curves.py`` as users run it, on two real training runs."""
    out = tmp_path / 'figure1.png'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'plot_curves.py'), str(demo_runs['a']),
         str(demo_runs['b']), '--metrics', 'bbox', 'segm', '--out', str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    height, width = mpimg.imread(str(out)).shape[:2]
    assert (height, width) == (495, 770)
    data = json.loads((tmp_path / 'figure1.json').read_text())
    labels = [s['label'] for s in data['series']]
    # one line per run and metric, legend from the config name plus the dir
    assert sorted(set(labels)) == ['mask_rcnn_gn_shapes [a]', 'mask_rcnn_gn_shapes [b]']
    assert len(data['series']) == 4
    by_label = {s['label']: s for s in data['series'] if s['metric'] == 'bbox_mAP'}
    assert by_label['mask_rcnn_gn_shapes [a]']['x'] == [6, 12]
    assert by_label['mask_rcnn_gn_shapes [b]']['x'] == [3, 6]
    # LR drops of run a: the demo rule at 12 iterations, drops 4 and 2 before the end
    assert data['lr_markers']['mask_rcnn_gn_shapes [a]'] == [8.0, 10.0]
    record = read_curve(str(demo_runs['a']))[-1]
    assert by_label['mask_rcnn_gn_shapes [a]']['y'][-1] == pytest.approx(100 * record['bbox_mAP'])
