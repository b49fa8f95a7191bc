"""Imports only point down (docs/architecture.md): no package of mmscratch
imports one above it, and nothing in the product imports ``mmscratch.testing``.

Every ``import`` / ``from ... import`` of every module is read with ``ast``
(those inside functions too), resolved to the mmscratch package it names and
checked against the layers below. A new package must be given a layer here.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'mmscratch'

#: Higher layers may import lower or equal ones, never higher ones.
LAYERS = {
    'utils': 0, 'version': 0,
    'checkpoint': 1, 'compat': 1, 'datasets': 1, 'evaluation': 1, 'models': 1, 'recipe': 1,
    'visualization': 1,
    'engine': 2,
    'analysis': 3, 'benchmark': 3, 'configs': 3,
    'apis': 4,
    'testing': 5,
}


def _package_of(module: Path) -> str:
    rel = module.relative_to(PACKAGE)
    return rel.parts[0].removesuffix('.py') if len(rel.parts) > 1 or \
        rel.name != '__init__.py' else ''


def _imported_packages(module: Path):
    """(line, mmscratch package) of every import of an mmscratch module."""
    tree = ast.parse(module.read_text(), filename=str(module))
    rel = module.relative_to(PACKAGE).with_suffix('')
    here = list(rel.parts[:-1]) if rel.name != '__init__' else list(rel.parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split('.')
                if parts[0] == 'mmscratch' and len(parts) > 1:
                    yield node.lineno, parts[1]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or '').split('.')
                if parts[0] != 'mmscratch':
                    continue
                targets = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            else:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                parts = base + (node.module.split('.') if node.module else [])
                targets = [parts[0]] if parts else [a.name for a in node.names]
            for target in targets:
                yield node.lineno, target.removesuffix('.py')


MODULES = sorted(p for p in PACKAGE.rglob('*.py') if p != PACKAGE / '__init__.py')


def test_every_package_has_a_layer():
    packages = {_package_of(m) for m in MODULES} - {''}
    assert packages <= set(LAYERS), packages - set(LAYERS)


@pytest.mark.parametrize('module', MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(module):
    own = _package_of(module)
    climbing = [f'line {line}: mmscratch.{target}'
                for line, target in _imported_packages(module)
                if target in LAYERS and LAYERS[target] > LAYERS[own]]
    assert not climbing, f'{module.relative_to(PACKAGE)} ({own}) imports upwards: {climbing}'


def test_the_product_never_imports_its_test_helpers():
    users = [str(m.relative_to(PACKAGE)) for m in MODULES
             if _package_of(m) != 'testing'
             and any(t == 'testing' for _, t in _imported_packages(m))]
    assert not users


def test_command_lines_are_parsed_only_by_the_launchers():
    """Library modules return values and raise errors; argparse is for tools/
    and the launchers of mmscratch/apis/."""
    parsers = [str(m.relative_to(PACKAGE)) for m in MODULES if _package_of(m) != 'apis'
               and any(isinstance(node, (ast.Import, ast.ImportFrom)) and 'argparse' in
                       [a.name for a in node.names] + [getattr(node, 'module', None)]
                       for node in ast.walk(ast.parse(m.read_text())))]
    assert not parsers


def test_the_checker_sees_a_climbing_import(tmp_path):
    """The check itself can fail: an engine module importing apis is caught."""
    fake = tmp_path / 'mmscratch'
    (fake / 'engine').mkdir(parents=True)
    bad = fake / 'engine' / 'bad.py'
    bad.write_text('def f():\n    from ..apis.train import main\n')
    global PACKAGE
    saved, PACKAGE = PACKAGE, fake
    try:
        assert list(_imported_packages(bad)) == [(2, 'apis')]
        with pytest.raises(AssertionError, match='imports upwards'):
            test_imports_point_down(bad)
    finally:
        PACKAGE = saved
