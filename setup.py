"""Build hook: ship configs/ inside the package (mmscratch/.mim/configs).

MMEngine resolves ``mmdet::`` through the mmdet wheel's ``.mim/configs``;
``mmscratch::`` cannot be added to MMEngine's hard-coded list, so the tools
resolve it themselves (mmscratch.apis.config_loading.configs_root) and a
non-editable install carries the configs the same way mmdet does. Everything
else is declared in setup.cfg.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):

    def run(self):
        super().run()
        if self.editable_mode:  # the repo's configs/ is found in place
            return
        src = Path(__file__).parent / 'configs'
        dst = Path(self.build_lib) / 'mmscratch' / '.mim' / 'configs'
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__'))
        # the model index (mim / MMEngine read .mim/model-index.yml -> configs/*/metafile.yml)
        index = Path(__file__).parent / 'model-index.yml'
        if index.is_file():
            shutil.copy(index, dst.parent / 'model-index.yml')


setup(cmdclass={'build_py': BuildPyWithConfigs})
