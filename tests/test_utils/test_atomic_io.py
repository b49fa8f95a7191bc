"""Atomic writes never write through a link planted in a shared directory.

Temporary names are random, so the tests fix the random part: the first name
a writer draws has a symlink planted at it, pointing at a file the attacker
wants overwritten. The writer must leave that file untouched, leave the link
alone, and still write its own file.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmscratch.utils import atomic_io

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """Makes the first temporary name drawn for ``name`` a symlink to a victim file."""
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    draws = iter(['deadbeef', 'cafebabe', '0badf00d', '12345678'])
    monkeypatch.setattr(atomic_io.secrets, 'token_hex', lambda n: next(draws))

    def plant(directory: Path, name: str) -> Path:
        link = directory / f'.{name}.{atomic_io.host_name()}.{os.getpid()}.deadbeef.tmp'
        link.symlink_to(victim)
        return link
    return victim, plant


def test_atomic_write_draws_another_name_instead_of_following_a_link(tmp_path, planted):
    victim, plant = planted
    link = plant(tmp_path, 'last_checkpoint')
    atomic_io.atomic_write_text(str(tmp_path / 'last_checkpoint'), 'iter_4.pth')
    assert victim.read_text() == 'precious'
    assert link.is_symlink()
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_4.pth'
    assert not (tmp_path / 'last_checkpoint').is_symlink()


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    (tmp_path / 'last_checkpoint').symlink_to(victim)
    atomic_io.atomic_write_text(str(tmp_path / 'last_checkpoint'), 'new')
    assert victim.read_text() == 'precious'
    assert (tmp_path / 'last_checkpoint').read_text() == 'new'


def test_new_files_and_appends_refuse_links(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    (tmp_path / 'out.pth').symlink_to(victim)
    with pytest.raises(FileExistsError):
        atomic_io.write_new_file(str(tmp_path / 'out.pth'), b'data')
    (tmp_path / 'curve.jsonl').symlink_to(victim)
    with pytest.raises(OSError):
        atomic_io.append_line(str(tmp_path / 'curve.jsonl'), '{}\n')
    assert victim.read_text() == 'precious'


def test_a_failed_write_leaves_no_temporary(tmp_path, monkeypatch):
    def disk_full(fd, data):
        os.write(fd, data[:3])
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(atomic_io, 'write_all', disk_full)
    with pytest.raises(OSError, match='No space'):
        atomic_io.atomic_write_bytes(str(tmp_path / 'x.pth'), b'0123456789')
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_checkpoint_saves_with_links_planted_at_their_temporary_names(tmp_path):
    """A whole training run in a fresh process: every temporary name the first
    draw would give (checkpoints, last_checkpoint, published model) is a link to
    the victim; the run finishes, the victim is untouched, the checkpoints load."""
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    code = textwrap.dedent('''
        import os, sys, itertools
        from mmscratch.utils import atomic_io
        from mmscratch.testing.runners import toy_runner
        work_dir, victim = sys.argv[1], sys.argv[2]
        os.makedirs(work_dir)
        names = ['iter_2.pth', 'iter_4.pth', 'last_checkpoint']
        for name in names:
            os.symlink(victim, os.path.join(
                work_dir, f'.{name}.{atomic_io.host_name()}.{os.getpid()}.deadbeef.tmp'))
        counter = itertools.count()
        # every other draw is the planted one
        atomic_io.secrets.token_hex = lambda n: 'deadbeef' if next(counter) % 2 == 0 \\
            else os.urandom(4).hex()
        toy_runner(work_dir, 4, checkpoint=dict(interval=2, published_keys=['meta', 'state_dict'])
                   ).train()
        print('DONE')
    ''')
    work_dir = tmp_path / 'work'
    proc = subprocess.run([sys.executable, '-c', code, str(work_dir), str(victim)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and 'DONE' in proc.stdout, proc.stderr[-3000:]
    assert victim.read_text() == 'precious'
    import torch
    assert torch.load(work_dir / 'iter_4.pth')['meta']['iter'] == 4
    assert (work_dir / 'last_checkpoint').read_text().endswith('iter_4.pth')
    links = [p for p in work_dir.iterdir() if p.is_symlink()]
    assert len(links) == 3


def test_reports_and_datasets_are_never_written_through_planted_links(tmp_path):
    """Every fixed or predictable name the sweep report, the shapes dataset and the
    benchmark's image cache write (outputs and the ``NAME.tmp`` temporaries they
    used to have) is a link to the victim: the victim is untouched, the files
    are written."""
    from mmscratch.analysis.compare import RunResult
    from mmscratch.analysis.config_names import parse_config_name
    from mmscratch.analysis.sweep import write_report
    from mmscratch.benchmark.synthetic import generate_coco_images
    from mmscratch.datasets.shapes import generate_shapes_dataset

    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')

    def plant(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(victim)

    root = tmp_path / 'sweep'
    for name in ('sweep.md', 'sweep.csv', 'sweep.json', 'sweep.png', 'sweep.svg'):
        plant(root / name)
    key = parse_config_name('mask_rcnn_r50_gn_1k_scratch')
    result = RunResult(work_dir='w', config_name=key.name, key=key, arm='scratch',
                       schedule='1x', iters=10, bbox=30.0, best_bbox=31.0, best_bbox_iter=5)
    files = write_report({(1000, 'scratch'): result}, str(root))
    assert len(files) == 5 and not any(Path(f).is_symlink() for f in files)
    assert '31.0' in (root / 'sweep.md').read_text()

    shapes = tmp_path / 'shapes'
    for split in ('train', 'val'):
        plant(shapes / 'annotations' / f'instances_{split}.json.tmp')
    generate_shapes_dataset(shapes, num_train=1, num_val=1, image_size=32)
    assert (shapes / 'annotations' / 'instances_val.json').read_text().startswith('{')

    cache = tmp_path / 'bench'
    plant(cache / 'instances.json.tmp')
    generate_coco_images(str(cache), num_images=1, image_size=(32, 32), num_instances=1)
    assert (cache / 'instances.json').read_text().startswith('{')
    assert victim.read_text() == 'precious'


def test_log_files_refuse_links_and_fifos(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    (tmp_path / 'train.log').symlink_to(victim)
    with pytest.raises(OSError):
        atomic_io.create_log_file(str(tmp_path / 'train.log'))
    os.mkfifo(tmp_path / 'fifo.log')
    with pytest.raises(OSError):  # ENXIO: no reader; never a blocked writer
        atomic_io.create_log_file(str(tmp_path / 'fifo.log'))
    with pytest.raises(OSError):
        atomic_io.append_line(str(tmp_path / 'fifo.log'), '{}\n')
    (tmp_path / 'old.log').write_text('old run')
    with os.fdopen(atomic_io.create_log_file(str(tmp_path / 'old.log')), 'w') as log:
        log.write('new')
    assert (tmp_path / 'old.log').read_text() == 'new' and victim.read_text() == 'precious'
