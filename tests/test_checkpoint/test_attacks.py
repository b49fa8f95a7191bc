"""Forged checkpoints are refused, cleanly, on every MMEngine load path.

Each attack class runs in a fresh interpreter (nothing registered or cached
by earlier tests), loads the forged file through mmscratch's loader and
through MMEngine's ``CheckpointLoader`` / ``load_checkpoint`` /
``Runner.resume`` with older checkpoints readable (the most permissive
setting mmscratch has), and must print one refusal per path and exit 0: no
crash, no object built, nothing run.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from . import forge

REPO = Path(__file__).resolve().parents[2]

_LOAD_EVERY_WAY = textwrap.dedent('''
    import sys
    import torch
    import mmscratch
    from mmengine.runner import CheckpointLoader
    from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
    from mmscratch.checkpoint import (CheckpointRefused, load_checkpoint_file,
                                      older_checkpoints_readable)
    from mmscratch.testing.runners import make_toy_runner

    path, work_dir = sys.argv[1], sys.argv[2]
    ways = {
        'mmscratch': lambda: load_checkpoint_file(path),
        'CheckpointLoader': lambda: CheckpointLoader.load_checkpoint(path, map_location='cpu'),
        '_load_checkpoint': lambda: _load_checkpoint(path, map_location='cpu'),
        'load_checkpoint': lambda: load_checkpoint(torch.nn.Linear(2, 1), path),
        'Runner.resume': lambda: make_toy_runner(work_dir, max_iters=2).resume(path),
    }
    with older_checkpoints_readable():
        for name, load in ways.items():
            try:
                load()
            except CheckpointRefused as exc:
                print(f'REFUSED {name}: {exc}')
            else:
                print(f'LOADED {name}')
''')


def _load_in_fresh_process(path, work_dir, code=_LOAD_EVERY_WAY):
    proc = subprocess.run([sys.executable, '-c', code, str(path), str(work_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    refusals = [line for line in proc.stdout.splitlines() if line.startswith(('REFUSED',
                                                                              'LOADED'))]
    return proc, refusals


@pytest.mark.parametrize('attack,reason', [
    ('object_dtype_scalar', 'refusing numpy dtype'),
    ('object_array', 'refusing numpy dtype'),
    ('array_rebuild', 'built twice'),
    ('short_array_data', 'bytes of data where 8000 are needed'),
    ('forged_numeric_dtype', 'not the state numpy writes'),
    ('walks_attributes', 'only the statistics names'),
    ('stray_numpy_name', 'outside the place numpy and MMEngine write it'),
    ('array_in_a_key', 'a place numpy and MMEngine never write one'),
    ('array_in_ordereddict_state', 'a place numpy and MMEngine never write one'),
    ('history_buffer_state_shared', 'refusing to load'),
    ('huge_empty_array', 'refusing to load'),
])
@pytest.mark.slow
def test_forged_numpy_and_history_buffer_pickles_are_refused(tmp_path, attack, reason):
    path = forge.ATTACKS[attack](tmp_path / f'{attack}.pth')
    proc, results = _load_in_fresh_process(path, tmp_path / 'work')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(results) == 5, proc.stdout[-3000:] + proc.stderr[-3000:]
    for line in results:
        assert line.startswith('REFUSED'), line
        assert str(path) in line and reason in line, line


@pytest.mark.slow
def test_a_pickle_that_runs_a_command_is_refused_and_runs_nothing(tmp_path):
    sentinel = tmp_path / 'pwned'
    path = forge.runs_a_command(tmp_path / 'evil.pth', sentinel)
    proc, results = _load_in_fresh_process(path, tmp_path / 'work')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(results) == 5 and all(r.startswith('REFUSED') for r in results), results
    assert all('posix.system' in r for r in results), results
    assert not sentinel.exists()


def test_control_the_object_dtype_forgery_is_a_real_attack(tmp_path):
    """With numpy's constructors allow-listed (what mmscratch used to do), the
    same file crashes the loading process: the refusal above is what stops it."""
    path = forge.object_dtype_scalar(tmp_path / 'forged.pth')
    code = textwrap.dedent('''
        import sys, numpy as np, torch
        core = np._core
        dtype_classes = {type(np.dtype(c)) for c in np.typecodes['All'] if c not in 'Mm'}
        torch.serialization.add_safe_globals([
            core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype,
            *dtype_classes])
        torch.load(sys.argv[1])
        print('survived')
    ''')
    proc = subprocess.run([sys.executable, '-c', code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode < 0 or proc.returncode > 128, (proc.returncode, proc.stdout)
    assert 'survived' not in proc.stdout


def test_outside_mmscratch_tools_an_older_checkpoint_is_refused_with_a_pointer(tmp_path):
    from mmscratch.testing.runners import toy_runner
    from mmscratch.checkpoint import CheckpointRefused, load_checkpoint_file

    toy_runner(tmp_path, 3, plain_data=False).train()  # stock MMEngine format
    with pytest.raises(CheckpointRefused, match='older MMEngine format.*convert_checkpoint'):
        load_checkpoint_file(str(tmp_path / 'iter_3.pth'))


@pytest.mark.parametrize('content', [b'', b'PK\x03\x04 truncated zip', b'not a checkpoint'])
def test_unreadable_files_are_one_clear_refusal(tmp_path, content):
    from mmscratch.checkpoint import CheckpointRefused, load_checkpoint_file

    path = tmp_path / 'broken.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointRefused, match='broken.pth'):
        load_checkpoint_file(str(path), allow_older=True)


@pytest.mark.slow
def test_import_leaves_torch_safe_list_as_it_was():
    # torch registers a few of its own classes when its submodules are first
    # imported; import those (and everything mmscratch stands on) first.
    code = textwrap.dedent('''
        import torch, torch.distributed.tensor, mmengine.runner, mmdet.apis, mmcv.ops
        import mmdet.models, mmdet.datasets, mmdet.engine, mmdet.evaluation
        before = set(torch.serialization.get_safe_globals())
        import mmscratch, mmscratch.apis.train, mmscratch.apis.test
        after = set(torch.serialization.get_safe_globals())
        print('ADDED', sorted(map(str, after - before)))
        print('REMOVED', sorted(map(str, before - after)))
        print('FOREIGN', sorted(str(g) for g in after if not repr(g).startswith(
            ("<class 'torch.", '<function _rebuild_njt'))))
    ''')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(' ', 1) for line in proc.stdout.splitlines()
                 if line.startswith(('ADDED', 'REMOVED', 'FOREIGN')))
    assert lines == {'ADDED': '[]', 'REMOVED': '[]', 'FOREIGN': '[]'}, proc.stdout


class _Evil:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f'touch {self.sentinel}',))


@pytest.mark.slow
def test_remote_and_model_zoo_checkpoints_are_read_as_data(tmp_path):
    """MMEngine's http/torchvision/open-mmlab loaders go through torch.hub, which
    unpickles without weights_only. A file served over http (loopback only) and
    one planted in a shared torch hub cache must both be refused."""
    sentinel = tmp_path / 'pwned'
    www = tmp_path / 'www'
    www.mkdir()
    code = textwrap.dedent(f'''
        import functools, http.server, os, sys, threading
        import torch
        from mmengine.runner.checkpoint import load_checkpoint
        from mmscratch.checkpoint import CheckpointRefused
        from tests.test_checkpoint.test_attacks import _Evil
        www, hub = sys.argv[1], sys.argv[2]
        torch.save({{'state_dict': {{}}, 'x': _Evil({str(sentinel)!r})}},
                   os.path.join(www, 'evil.pth'))
        os.makedirs(os.path.join(hub, 'checkpoints'))
        # what open-mmlab://resnet50_v1c would find in a shared cache
        torch.save({{'x': _Evil({str(sentinel)!r})}},
                   os.path.join(hub, 'checkpoints', 'resnet50_v1c-2cccc1ad.pth'))
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=www)
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        torch.hub.set_dir(hub)
        for url in (f'http://127.0.0.1:{{server.server_port}}/evil.pth',
                    'open-mmlab://resnet50_v1c'):
            try:
                load_checkpoint(torch.nn.Linear(2, 1), url)
            except CheckpointRefused as exc:
                print('REFUSED', exc)
        server.shutdown()
    ''')
    proc = subprocess.run([sys.executable, '-c', 'import mmscratch\n' + code, str(www),
                           str(tmp_path / 'hub')], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    refusals = [line for line in proc.stdout.splitlines() if line.startswith('REFUSED')]
    assert len(refusals) == 2 and all('posix.system' in r for r in refusals), proc.stdout
    assert not sentinel.exists()


@pytest.mark.slow
def test_config_texts_are_moved_where_nothing_executes_them(tmp_path):
    """MMEngine's inferencers run Config.fromstring on message_hub.runtime_info.cfg
    or meta.cfg of a checkpoint given without a config."""
    from mmscratch.checkpoint import load_checkpoint_file

    sentinel = tmp_path / 'pwned'
    text = f"open({str(sentinel)!r}, 'w').write('ran')\n"
    path = tmp_path / 'weights.pth'
    import torch
    torch.save({'meta': {'cfg': text}, 'state_dict': {},
                'message_hub': {'runtime_info': {'cfg': text}, 'log_scalars': {},
                                'resumed_keys': {}}}, path)
    ckpt = load_checkpoint_file(str(path))
    assert 'cfg' not in ckpt['meta'] and 'cfg' not in ckpt['message_hub']['runtime_info']
    assert ckpt['meta']['untrusted_config_text'] == text
    code = textwrap.dedent('''
        import sys
        import mmscratch
        from mmdet.apis import DetInferencer
        try:
            DetInferencer(weights=sys.argv[1], device='cpu')
        except Exception as exc:
            print('NOT BUILT', type(exc).__name__)
    ''')
    proc = subprocess.run([sys.executable, '-c', code, str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert 'NOT BUILT' in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert not sentinel.exists()


def test_a_torchscript_archive_is_not_handed_to_torch_jit(tmp_path):
    import torch
    from mmscratch.checkpoint import CheckpointRefused, load_checkpoint_file
    from mmscratch.checkpoint.legacy_numpy import load_legacy_checkpoint

    path = tmp_path / 'scripted.pth'
    torch.jit.script(torch.nn.Linear(2, 1)).save(str(path))
    with pytest.raises(CheckpointRefused):
        load_checkpoint_file(str(path), allow_older=True)
    with pytest.raises(Exception, match='TorchScript'):
        load_legacy_checkpoint(str(path))


def test_a_torchscript_archive_hidden_from_python_zipfile_is_not_handed_to_torch_jit(tmp_path):
    """A polyglot is a numpy checkpoint to Python's ``zipfile`` and TorchScript to
    torch's reader. It reaches the older-format reader when the file is swapped
    between the loader's first read and its second (a shared work dir), or when
    that reader is called directly: torch.load(weights_only=False) would hand it
    to torch.jit. Refused, and torch.jit.load is never called."""
    poly = forge.torchscript_numpy_polyglot(tmp_path / 'poly.pth')
    code = textwrap.dedent('''
        import sys, numpy as np, torch
        import mmscratch
        from mmscratch.checkpoint import loading, CheckpointRefused
        from mmscratch.checkpoint.legacy_numpy import load_legacy_checkpoint
        honest, poly = sys.argv[1], sys.argv[2]
        torch.save({'meta': {'iter': 1}, 'x': np.float64(1.5)}, honest)
        real_jit_load = torch.jit.load
        def spy(*args, **kwargs):
            print('TORCH.JIT.LOAD CALLED')
            return real_jit_load(*args, **kwargs)
        torch.jit.load = spy
        loading._read_bytes = lambda path: open(poly, 'rb').read()  # the swap
        ways = {'swapped': lambda: loading.load_checkpoint_file(honest, allow_older=True),
                'legacy reader': lambda: load_legacy_checkpoint(poly)}
        for name, load in ways.items():
            try:
                result = load()
                print('LOADED', name, type(result).__name__)
            except Exception as exc:  # CheckpointRefused, UnpicklingError
                print('REFUSED', name, exc)
    ''')
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'honest.pth'), poly],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'TORCH.JIT.LOAD CALLED' not in proc.stdout, proc.stdout
    refusals = [line for line in proc.stdout.splitlines() if line.startswith('REFUSED')]
    assert len(refusals) == 2 and all('TorchScript' in r for r in refusals), proc.stdout
