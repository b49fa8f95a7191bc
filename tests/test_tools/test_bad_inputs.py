"""Every tool meets bad input with one ``error:`` line and a non-zero exit code.

A table of (tool, bad input): each tool runs in this process as
``python tools/X.py ARGS`` would (``runpy``), and must exit non-zero with
exactly one line starting with ``error:`` on stderr and no traceback -- an
exception that escapes fails the test with its own traceback. Inputs are
checked before any model is built, so the table runs in seconds.
"""
import contextlib
import io
import json
import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / 'configs' / 'demo' / 'mask_rcnn_gn_shapes.py')
SCRATCH = str(REPO / 'configs' / 'scratch' / 'mask_rcnn_r50_gn_6x.py')
MASK_RCNN = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Bad (and a few good) inputs, by name."""
    root = tmp_path_factory.mktemp('bad_inputs')
    paths = {name: root / name for name in (
        'syntax.py', 'truncated.json', 'not_coco.json', 'no_ids.json', 'coco.json',
        'garbage.pth', 'empty_dir')}
    paths['syntax.py'].write_text("model = dict(type='MaskRCNN'\ntrain_cfg = dict()\n")
    coco = dict(images=[dict(id=1, file_name='a.jpg', width=8, height=8)],
                annotations=[dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 4, 4],
                                  area=16, iscrowd=0)],
                categories=[dict(id=1, name='thing')])
    paths['coco.json'].write_text(json.dumps(coco))
    paths['truncated.json'].write_text(json.dumps(coco)[:40])
    paths['not_coco.json'].write_text(json.dumps({'foo': [1]}))
    paths['no_ids.json'].write_text(json.dumps(dict(coco, images=[dict(file_name='a.jpg')])))
    paths['garbage.pth'].write_bytes(b'not a checkpoint at all')
    paths['empty_dir'].mkdir()
    paths['missing'] = root / 'missing'
    return {k: str(v) for k, v in paths.items()}


def _missing_data(files):
    root = files['missing'] + '/'
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={root}annotations/instances_val.json']


# (tool, arguments built from the files, text the error line must contain)
CASES = [
    ('train', lambda f: [f['missing'] + '.py'], 'config file not found'),
    ('train', lambda f: [f['syntax.py']], 'syntax.py:1: syntax error'),
    ('train', lambda f: [DEMO, '--cfg-options', 'train_cfg'], "'train_cfg' is not KEY=VALUE"),
    ('train', lambda f: [SCRATCH, '--cfg-options', 'train_cfg.schedul.multiple=2'],
     "train_cfg.schedul: unknown argument; did you mean 'schedule'"),
    ('train', lambda f: [SCRATCH, '--cfg-options', 'train_cfg.schedule.multipl=2'],
     "did you mean 'multiple'"),
    ('train', lambda f: [DEMO, '--cfg-options', 'custom_hooks.1.num_point=3'],
     "custom_hooks.1.num_point: unknown argument; did you mean 'num_points'"),
    ('train', lambda f: [DEMO, '--work-dir', f['empty_dir'], *_missing_data(f)],
     'dataset root not found'),
    ('train', lambda f: [DEMO, '--bogus'], 'unrecognized arguments: --bogus'),
    ('train', lambda f: [MASK_RCNN, '--scratchify', 'BN:6x'], "'BN' is not one norm"),
    ('train', lambda f: ['mmdet::regnet/mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py',
                         '--scratchify', 'GN:6x', '--dry-run'],
     'GN(32) cannot split backbone.'),
    ('train', lambda f: [DEMO, '--gpus', '4'], '--gpus previews a launch with --dry-run'),
    ('test', lambda f: [DEMO, f['missing'] + '.pth'], 'checkpoint file not found'),
    ('test', lambda f: [DEMO, f['garbage.pth']], 'not a readable checkpoint'),
    ('test', lambda f: [f['syntax.py'], f['garbage.pth']], 'syntax error'),
    ('data_budget', lambda f: [f['syntax.py']], 'syntax error'),
    ('data_budget', lambda f: [SCRATCH, '--ann-file', f['missing'] + '.json'],
     'annotation file not found'),
    ('data_budget', lambda f: [SCRATCH, '--ann-file', f['truncated.json']],
     'truncated.json: truncated JSON at line 1'),
    ('data_budget', lambda f: [SCRATCH, '--ann-file', f['not_coco.json']],
     "not_coco.json: not a COCO annotation file: 'images' is missing"),
    ('benchmark', lambda f: [f['missing'] + '.py'], 'config file not found'),
    ('benchmark', lambda f: [DEMO, '--vs'], 'expected one argument'),
    ('benchmark', lambda f: [DEMO, '--vs', f['missing'] + '.py'], 'config file not found'),
    ('benchmark', lambda f: [DEMO, '--iters', '0'], '--iters and --block-iters must be >= 1'),
    ('benchmark', lambda f: [DEMO, '--input', 'real', *_missing_data(f)],
     'dataset root not found'),
    ('make_subset', lambda f: [f['missing'] + '.json', '--images', '1', '--out', f['missing']],
     'annotation file not found'),
    ('make_subset', lambda f: [f['truncated.json'], '--images', '1', '--out', f['missing']],
     'truncated JSON'),
    ('make_subset', lambda f: [f['not_coco.json'], '--images', '1', '--out', f['missing']],
     'not a COCO annotation file'),
    ('make_subset', lambda f: [f['no_ids.json'], '--images', '1', '--out', f['missing']],
     "images[0] (id None): 'id' is missing"),
    ('check_dataset', lambda f: [f['coco.json'], f['missing']], 'image folder not found'),
    ('check_dataset', lambda f: [f['truncated.json'], f['empty_dir']], 'truncated JSON'),
    ('compare_runs', lambda f: [f['missing']], 'not a directory'),
    ('plot_curves', lambda f: [f['empty_dir']], 'no convergence curve'),
    ('lever_check', lambda f: [f['missing'] + '.py', '--lever', 'a=1', '--work-root',
                               f['missing']], 'config file not found'),
    ('small_data_sweep', lambda f: ['--config-scratch', DEMO, '--config-pretrained', DEMO,
                                    '--ann-file', f['not_coco.json'], '--sizes', '1',
                                    '--work-root', f['missing'], '--dry-run'],
     'not a COCO annotation file'),
    ('convert_checkpoint', lambda f: [f['missing'] + '.pth', f['missing'] + '2.pth'],
     'checkpoint file not found'),
    ('make_shapes_dataset', lambda f: ['--out', f['missing'], '--num-train', '-1'],
     'num_train'),
    ('gen_model_index', lambda f: ['--root', f['empty_dir'], '--check'], 'no configs/ folder'),
    ('gen_model_index', lambda f: ['--folders', 'demo'], "invalid choice: 'demo'"),
    ('make_pretrain_dataset', lambda f: ['--out', f['missing'], '--num-train', '0'],
     'num_train'),
    ('mini_paper', lambda f: ['--work-root', f['missing'], '--subset-sizes', '9999'],
     '--subset-sizes must lie in'),
    ('data_budget', lambda f: [DEMO, '--pretrain-config', f['missing'] + '.py'],
     'config file not found'),
    ('benchmark_ops', lambda f: ['--repeats', '0'], 'must be >= 1'),
    ('benchmark_ops', lambda f: ['--sides', 'wide'], "invalid int value: 'wide'"),
]


def _run_tool(tool, argv, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [f'tools/{tool}.py', *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / 'tools' / f'{tool}.py'), run_name='__main__')
    return exit_info.value.code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize('tool,make_args,expected', CASES,
                         ids=[f'{c[0]}-{i}' for i, c in enumerate(CASES)])
def test_bad_input_is_one_error_line(tool, make_args, expected, files, monkeypatch):
    code, out, err = _run_tool(tool, make_args(files), monkeypatch)
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert code not in (0, None), (out[-2000:], err[-2000:])
    assert len(errors) == 1, err[-3000:]
    assert expected in errors[0], errors[0]
    assert 'Traceback' not in err + out


def test_debug_shows_the_traceback(files, monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['tools/train.py', files['syntax.py'], '--debug'])
    with pytest.raises(Exception, match='syntax error'):
        runpy.run_path(str(REPO / 'tools' / 'train.py'), run_name='__main__')
