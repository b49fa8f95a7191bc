"""Work-arounds for the MMEngine 0.10.7 behaviour mmscratch meets, each scoped
to mmscratch and removable once MMEngine fixes it (docs/configs.md)."""
from .installed_path import install_package_locator

__all__ = ['install_package_locator']
