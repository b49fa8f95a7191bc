"""Settings of the whole suite; the fixtures shared across test folders are a
plugin of the test-helper package (mmscratch/testing/fixtures.py)."""
import os

import pytest

pytest_plugins = ['mmscratch.testing.fixtures']

# Keep the suite quiet and single-process unless a test asks otherwise.
os.environ.setdefault('OMP_NUM_THREADS', '2')


@pytest.fixture(scope='session', autouse=True)
def _fast_mmdet_base_lookup():
    """Load the ~165 configs in seconds, not minutes (see cached_metafile_reads)."""
    from mmscratch.utils.config_loading import cached_metafile_reads
    with cached_metafile_reads():
        yield
