"""``read_base()`` imports of ``mmscratch.configs`` under an editable install.

MMEngine 0.10.7 resolves ``with read_base(): from mmscratch.configs.recipes.gn
import ...`` with ``mmengine.utils.get_installed_path('mmscratch')``: the
directory of the package's *metadata* plus ``mmscratch``. A PEP 660 editable
install (``pip install -e .``, what ``make install`` does) keeps the metadata
in site-packages and the code in the checkout, so MMEngine looks for
``site-packages/mmscratch/configs/recipes/gn.py``, which does not exist, and
the config fails to parse from any directory but the checkout.

:func:`install_package_locator` wraps the function MMEngine's config parser
calls so that, for the ``mmscratch`` package only, a path that does not exist
is replaced by where Python actually imports the package from. Every other
package, and every install where MMEngine's answer exists (a regular
``pip install .``), is untouched. It is installed by ``import mmscratch``,
which mmscratch's tools do before they load a config.
"""
from __future__ import annotations

import functools
import os.path as osp

PACKAGE = 'mmscratch'


def _package_dir() -> str:
    return osp.dirname(osp.abspath(__import__(PACKAGE).__file__))


def install_package_locator() -> None:
    """Idempotent: wrap ``get_installed_path`` where MMEngine's config parser uses it."""
    import mmengine.config.config as config_module

    original = config_module.get_installed_path
    if getattr(original, 'mmscratch_locator', False):
        return

    @functools.wraps(original)
    def get_installed_path(package: str) -> str:
        path = original(package)
        if package == PACKAGE and not osp.isdir(path):
            return _package_dir()
        return path

    get_installed_path.mmscratch_locator = True
    config_module.get_installed_path = get_installed_path
