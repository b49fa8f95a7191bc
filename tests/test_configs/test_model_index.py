"""The config folders' README.md / metafile.yml are generated, current and readable.

One source for the reference numbers (mmscratch/analysis/paper_reference.py):
the committed README.md, metafile.yml and model-index.yml must be exactly
what ``tools/gen_model_index.py`` writes from it and the resolved configs; the
metafiles must be MMDetection's model-index format as MMEngine's ``pkg::``
lookup reads it; config headers name their sources and repeat no number.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from mmscratch.analysis.model_index import FOLDERS, generate
from mmscratch.analysis.paper_reference import config_references, primary_results

from .test_all_configs import REPO, config

EXPECTED_TARGETS = {  # (folder, stem): (box, mask), from the sources named in the README
    ('scratch', 'mask_rcnn_r50_gn_6x'): (41.3, 36.6),
    ('scratch', 'mask_rcnn_r50_gn_3x'): (39.5, 35.2),
    ('scratch', 'mask_rcnn_r101_gn_4x'): (41.8, None),
    ('scratch', 'mask_rcnn_r50_syncbn_lsj_400e'): (47.4, 42.5),
    ('pretrained', 'mask_rcnn_r50_gn_2x'): (40.3, 35.7),
    ('pretrained', 'mask_rcnn_r101_gn_6x'): (42.2, None),
    ('small_data', 'mask_rcnn_r50_gn_1k_scratch'): (3.5, None),
    ('small_data', 'mask_rcnn_r50_gn_10k_pretrained'): (26.0, None),
    ('scratch', 'faster_rcnn_r50_gn_2x'): (None, None),
    ('pretrained', 'mask_rcnn_r50_syncbn_lsj_100e'): (None, None),
}


@pytest.fixture(scope='module')
def generated():
    return generate(REPO, config)


def test_committed_files_are_what_the_command_generates(generated):
    assert set(generated) == {f'configs/{f}/{n}' for f in FOLDERS
                              for n in ('README.md', 'metafile.yml')} | {'model-index.yml'}
    stale = [rel for rel, text in generated.items()
             if not (REPO / rel).is_file() or (REPO / rel).read_text(encoding='utf-8') != text]
    assert not stale, f'run python tools/gen_model_index.py: {stale}'


def _models():
    models = {}
    for folder in FOLDERS:
        data = yaml.safe_load((REPO / 'configs' / folder / 'metafile.yml').read_text())
        collection = data['Collections'][0]
        assert collection['Paper']['URL'] == 'https://arxiv.org/abs/1811.08883'
        assert (REPO / collection['README']).is_file()
        for model in data['Models']:
            assert model['In Collection'] == collection['Name']
            models[model['Name']] = model
    return models


def test_metafiles_list_every_config_once_with_the_reference_targets():
    models = _models()
    configs = {str(p.relative_to(REPO)) for f in FOLDERS
               for p in (REPO / 'configs' / f).glob('*.py')}
    assert sorted(m['Config'] for m in models.values()) == sorted(configs)
    for (folder, stem), (box, mask) in EXPECTED_TARGETS.items():
        model = models[f'{folder}_{stem}']
        metrics = {k: v for r in model.get('Results', []) for k, v in r['Metrics'].items()}
        assert metrics.get('box AP') == box and metrics.get('mask AP') == mask, (folder, stem)
        if box is None:
            assert 'Results' not in model
        else:
            assert model['Metadata']['Results Source'].startswith('published reference')
    for model in models.values():
        folder, stem = Path(model['Config']).parent.name, Path(model['Config']).stem
        found = primary_results(config_references(folder, stem))
        metrics = {k: v for r in model.get('Results', []) for k, v in r['Metrics'].items()}
        assert metrics == {name: found[key][0] for key, _, name in
                           (('bbox', 0, 'box AP'), ('segm', 0, 'mask AP')) if key in found}
        assert model['Metadata']['Frozen Stages'] == (1 if folder == 'pretrained' or
                                                      stem.endswith('_pretrained') else -1)


def test_mmengine_finds_configs_through_the_model_index(tmp_path):
    """MMEngine's ``pkg::`` lookup: .mim/model-index.yml -> metafiles -> Config."""
    from mmengine.config.utils import _get_cfg_metainfo
    mim = tmp_path / 'pkg' / '.mim'
    shutil.copytree(REPO / 'configs', mim / 'configs',
                    ignore=shutil.ignore_patterns('__pycache__', '*.py'))
    shutil.copy(REPO / 'model-index.yml', mim / 'model-index.yml')
    info = _get_cfg_metainfo(str(tmp_path / 'pkg'), 'pretrained/mask_rcnn_r50_gn_6x.py')
    assert info['Config'] == 'configs/pretrained/mask_rcnn_r50_gn_6x.py'
    assert info['Name'] == 'pretrained_mask_rcnn_r50_gn_6x'


def test_the_command_checks_and_rewrites(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('gen_model_index',
                                                  REPO / 'tools' / 'gen_model_index.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    shutil.copytree(REPO / 'configs', tmp_path / 'configs',
                    ignore=shutil.ignore_patterns('__pycache__'))
    readme = tmp_path / 'configs' / 'small_data' / 'README.md'
    assert tool.main(['--root', str(tmp_path), '--folders', 'small_data', '--check']) == 0
    readme.write_text(readme.read_text().replace('36.3', '46.3'))  # a hand-edited number
    from mmscratch.apis.cli import ToolFailure
    with pytest.raises(ToolFailure, match='configs/small_data/README.md'):
        tool.main(['--root', str(tmp_path), '--folders', 'small_data', '--check'])
    assert '46.3' in readme.read_text()  # --check writes nothing
    assert tool.main(['--root', str(tmp_path), '--folders', 'small_data']) == 0
    assert readme.read_text() == (REPO / 'configs' / 'small_data' / 'README.md').read_text()


AP_NUMBER = re.compile(r'\b[1-9][0-9]\.[0-9]\b|\b[0-9]\.[0-9] (?:box|mask|AP)')


def _header(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith('#'):
            break
        lines.append(line[1:].strip())
    return ' '.join(lines)


@pytest.mark.parametrize('folder', FOLDERS)
def test_config_headers_name_their_sources_and_repeat_no_number(folder):
    for path in sorted((REPO / 'configs' / folder).glob('*.py')):
        header = _header(path)
        assert not AP_NUMBER.search(header), (path.name, AP_NUMBER.search(header))
        refs = config_references(folder, path.stem)
        for ref in refs:
            if path.stem.endswith('_detectron_init') or path.stem.endswith('_bf16'):
                continue  # variants point to the config they vary
            named = 'arXiv 1811.08883' if ref.source == 'paper' else ref.config
            assert named in header.replace(' ', '') or named in header, (path.name, named)
        if refs:
            assert f'configs/{folder}/README.md' in header.replace(' ', ''), path.name


def test_the_readme_quotes_the_one_source():
    """The user's guide shows a few reference numbers: they are paper_reference's."""
    from mmscratch.analysis.paper_reference import BEST, BOX_AP_BY_SCHEDULE, SMALL_DATA
    text = (REPO / 'README.md').read_text()

    def row(prefix):
        line = next(l for l in text.splitlines() if l.startswith(prefix))
        return [c.strip() for c in line.strip('|').split('|')[1:]]

    for arm, label in (('scratch', '(random init)'), ('pretrained', '(ImageNet)')):
        cells = row(f'| `configs/{arm}/mask_rcnn_r50_gn_Nx.py` {label}')
        table = BOX_AP_BY_SCHEDULE[('r50', arm)]
        assert cells == [f'{table[s]:.1f}' for s in ('2x', '3x', '4x', '5x', '6x')]
    scratch, pretrained = BEST[('r50', 'scratch')], BEST[('r50', 'pretrained')]
    assert f"# paper: {scratch['bbox']} box / {scratch['segm']} mask AP" in text
    assert f"# its ImageNet twin: {pretrained['bbox']} / {pretrained['segm']}" in text
    cells = row('| paper: pretrained / scratch box AP')
    sizes = (1_000, 3_500, 10_000, 35_000)
    assert cells == [f"{SMALL_DATA[n]['pretrained']:.1f} / {SMALL_DATA[n]['scratch']:.1f}"
                     for n in sizes]
