"""mmscratch: train MMDetection detectors from random initialization.

Importing the package registers its loops, schedulers, hooks and datasets in
MMDetection's registries (configs pull it in with
``custom_imports=dict(imports=['mmscratch'], allow_failed_imports=False)``)
and allow-lists MMEngine's checkpoint types for PyTorch's safe loader.
"""
from .compat import register_safe_globals
from .version import __version__

register_safe_globals()

from . import datasets, engine  # noqa: E402,F401  (registers modules)
from .config import scratchify  # noqa: E402  (the recipe applied to any config)

__all__ = ['__version__', 'scratchify']
