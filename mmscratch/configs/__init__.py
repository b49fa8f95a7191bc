"""mmscratch's configs in MMEngine's pure-Python format, importable with ``read_base``.

MMEngine resolves ``with read_base(): from mmscratch.configs.X import ...``
through the installed package (``mmengine.utils.get_installed_path``), to
``mmscratch/configs/X.py``: this package, which ships with mmscratch (each
folder has an ``__init__.py`` so that setuptools packages it). The files here
are configs, parsed by MMEngine, not modules meant to be imported directly.

* ``recipes/gn.py`` / ``recipes/syncbn.py``: the from-scratch recipe as one
  dict, ``scratch_recipe``, for a pure-Python config of yours (way 2 of
  "Mixing the recipe into your config" in docs/configs.md).

The text-format configs (``_base_ = ...``) live in the repository's
``configs/`` (in an installed package, ``mmscratch/.mim/configs``); a config
cannot mix the two formats in one inheritance chain.
"""
