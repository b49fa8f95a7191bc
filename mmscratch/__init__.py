"""mmscratch: train MMDetection detectors from random initialization.

Importing the package registers its loops, schedulers, hooks and datasets in
MMDetection's registries (configs pull it in with
``custom_imports=dict(imports=['mmscratch'], allow_failed_imports=False)``)
and routes MMEngine's checkpoint loads through mmscratch's loader, which reads
checkpoints as data (``mmscratch.checkpoint``; torch's own safe list is left as
it is).
"""
from .checkpoint import install_mmengine_loaders
from .compat import install_package_locator
from .version import __version__

install_mmengine_loaders()
install_package_locator()  # read_base() of mmscratch.configs under editable installs

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registers modules)
from .recipe import scratchify  # noqa: E402  (the recipe applied to any config)

__all__ = ['__version__', 'scratchify']
