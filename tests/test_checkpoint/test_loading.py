"""Checkpoints as data: written plain, read back exactly; older and model-zoo files load."""
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import load_checkpoint

import mmscratch  # noqa: F401  (installs the loaders, registers the hook)
from mmscratch.checkpoint import (CheckpointDataError, CheckpointRefused, from_plain_data,
                                  load_checkpoint_file, older_checkpoints_readable,
                                  to_plain_data)
from mmscratch.checkpoint.plain_data import TAG
from mmscratch.testing.runners import toy_runner

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def plain_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('plain')
    runner = toy_runner(work_dir, 4, checkpoint=dict(interval=2))
    runner.train()
    return runner, work_dir


@pytest.fixture(scope='module')
def stock_run(tmp_path_factory):
    """A run of stock MMEngine 0.10.7: numpy arrays and HistoryBuffers pickled."""
    work_dir = tmp_path_factory.mktemp('stock')
    runner = toy_runner(work_dir, 4, checkpoint=dict(type='CheckpointHook', interval=2),
                        plain_data=False)
    runner.train()
    return runner, work_dir


def test_our_checkpoints_load_with_nothing_allow_listed(plain_run):
    _, work_dir = plain_run
    code = textwrap.dedent('''
        import sys, torch
        torch.serialization.clear_safe_globals()
        ckpt = torch.load(sys.argv[1])  # weights_only=True, empty safe list
        loss = ckpt['message_hub']['log_scalars']['train/loss']
        print('OK', ckpt['meta']['iter'], sorted(loss))
    ''')
    proc = subprocess.run([sys.executable, '-c', code, str(work_dir / 'iter_4.pth')],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"OK 4 {sorted([TAG, 'count_history', 'log_history', 'max_length'])}" in proc.stdout


def test_a_plain_checkpoint_reads_back_exactly(plain_run):
    runner, work_dir = plain_run
    ckpt = load_checkpoint_file(str(work_dir / 'iter_4.pth'))
    saved = ckpt['message_hub']['log_scalars']
    live = runner.message_hub.log_scalars
    assert set(saved) == {k for k, v in runner.message_hub._resumed_keys.items()
                          if v and k in live}
    for key, buffer in saved.items():
        assert type(buffer) is HistoryBuffer and buffer.max_length == live[key].max_length
        for got, want in zip(buffer.data, live[key].data):
            assert got.dtype == want.dtype and np.array_equal(got, want)
    # numpy values in the runtime info keep their type and bits
    numpy_values = 0
    for key, value in ckpt['message_hub']['runtime_info'].items():
        want = runner.message_hub.runtime_info.get(key)
        if isinstance(want, np.generic):
            numpy_values += 1
            assert type(value) is type(want) and value.tobytes() == want.tobytes(), key
    assert numpy_values >= 1  # MMEngine logs e.g. the ETA as a numpy float


def test_round_trip_of_every_kind_of_value():
    original = OrderedDict(
        array=np.arange(6, dtype=np.int16).reshape(2, 3)[:, ::2],  # not contiguous
        big_endian=np.array([1.5, 2.5], dtype='>f8'),
        scalar=np.float32(0.1), flag=np.bool_(True), text=np.str_('x'), dtype=np.dtype('u1'),
        buffer=HistoryBuffer([1, 2, 3], [1, 1, 2], max_length=5),
        nested=[{'a': (np.int64(3), None)}], tensor=torch.ones(2))
    encoded = to_plain_data(original)
    rebuilt = from_plain_data(encoded)
    assert np.array_equal(rebuilt['array'], original['array'])
    assert rebuilt['array'].dtype == np.int16
    assert rebuilt['big_endian'].tolist() == [1.5, 2.5]
    assert rebuilt['big_endian'].dtype == np.dtype('>f8')  # the byte order comes back too
    assert type(rebuilt['scalar']) is np.float32 and rebuilt['scalar'] == np.float32(0.1)
    assert type(rebuilt['flag']) is np.bool_ and rebuilt['text'] == 'x'
    assert rebuilt['dtype'] == np.dtype('u1')
    assert rebuilt['buffer'].data[0].tolist() == [1, 2, 3] and rebuilt['buffer'].max_length == 5
    assert type(rebuilt['nested'][0]['a'][0]) is np.int64
    assert rebuilt['tensor'] is original['tensor']


@pytest.mark.parametrize('value,where', [
    (object(), 'checkpoint.bad'),
    (np.array(['a'], dtype=object), 'checkpoint.bad'),
    ({'deeper': [lambda: 1]}, 'checkpoint.bad.deeper.0'),
    ({np.float64(0.5): 1}, 'checkpoint.bad'),  # a float subclass that pickles as numpy
    ({np.float32(1.0)}, 'checkpoint.bad'),
])
def test_what_is_not_plain_data_stops_the_save_naming_its_key(value, where):
    with pytest.raises(CheckpointDataError, match=where.replace('.', r'\.')):
        to_plain_data({'bad': value})


@pytest.mark.parametrize('entry', [
    {TAG: 'numpy.ndarray', 'tensor': 'not a tensor'},
    {TAG: 'numpy.dtype', 'name': 'O'},
    {TAG: 'mmengine.HistoryBuffer', 'max_length': -1,
     'log_history': {TAG: 'numpy.ndarray', 'tensor': torch.zeros(2)},
     'count_history': {TAG: 'numpy.ndarray', 'tensor': torch.zeros(3)}},
    {TAG: 'os.system', 'cmd': 'true'},
])
def test_malformed_plain_entries_are_refused(tmp_path, entry):
    path = tmp_path / 'forged.pth'
    torch.save({'meta': {}, 'message_hub': {'x': entry}}, path)
    with pytest.raises(CheckpointRefused, match='forged.pth'):
        load_checkpoint_file(str(path))


def test_a_stock_mmengine_checkpoint_loads_and_resumes(stock_run, tmp_path):
    runner, work_dir = stock_run
    path = str(work_dir / 'iter_4.pth')
    with older_checkpoints_readable():
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
        for key, buffer in ckpt['message_hub']['log_scalars'].items():
            live = runner.message_hub.log_scalars[key]
            assert type(buffer) is HistoryBuffer
            assert all(np.array_equal(a, b) for a, b in zip(buffer.data, live.data))
        resumed = toy_runner(work_dir, 6, resume=True, load_from=path,
                             checkpoint=dict(interval=2))
        resumed.train()
    assert resumed.iter == 6
    # the run goes on in the plain format
    assert torch.load(work_dir / 'iter_6.pth')['meta']['iter'] == 6


@pytest.mark.slow
def test_convert_checkpoint_tool(stock_run, tmp_path):
    _, work_dir = stock_run
    out = tmp_path / 'converted.pth'
    tool = [sys.executable, str(REPO / 'tools' / 'convert_checkpoint.py')]
    proc = subprocess.run(tool + [str(work_dir / 'iter_2.pth'), str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    converted = torch.load(out)  # plain torch, empty allow-list
    assert converted['meta']['iter'] == 2
    again = subprocess.run(tool + [str(work_dir / 'iter_2.pth'), str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and again.stderr.strip().startswith('error:') \
        and 'exists' in again.stderr and 'Traceback' not in again.stderr


def test_model_zoo_files_load_as_before(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    # torchvision: a bare state dict
    bare = tmp_path / 'resnet.pth'
    torch.save(model.state_dict(), bare)
    target = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    load_checkpoint(target, str(bare))
    assert torch.equal(target[0].weight, model[0].weight)
    # an mmdet 2.x release: meta with the config text and classes
    release = tmp_path / 'mask_rcnn_r50_fpn_1x_coco.pth'
    torch.save({'meta': {'mmdet_version': '2.25.0', 'CLASSES': ('person', 'car'),
                         'config': "model = dict(type='MaskRCNN')"},
                'state_dict': model.state_dict()}, release)
    ckpt = CheckpointLoader.load_checkpoint(str(release), map_location='cpu')
    assert ckpt['meta']['CLASSES'] == ('person', 'car')
    # the text is kept where nothing executes it (resume, inferencers read 'config'/'cfg')
    assert 'config' not in ckpt['meta'] and 'cfg' not in ckpt['meta']
    assert ckpt['meta']['untrusted_config_text'].startswith('model =')
