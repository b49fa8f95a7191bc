import pytest

from mmscratch.testing import cached_metafile_reads


@pytest.fixture(scope='session', autouse=True)
def _fast_mmdet_base_lookup():
    """Load the ~120 configs in seconds, not minutes (see cached_metafile_reads)."""
    with cached_metafile_reads():
        yield
