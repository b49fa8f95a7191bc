"""The one grammar of config names (mmscratch/analysis/config_names.py)."""
import pytest

from mmscratch.analysis.config_names import parse_config_name


@pytest.mark.parametrize('name, expected', [
    ('mask_rcnn_r50_gn_6x', dict(arch='mask_rcnn', depth='r50', norm='gn', schedule='6x')),
    ('pretrained/mask_rcnn_r101_gn_3x.py', dict(depth='r101', schedule='3x', arm='pretrained')),
    ('cascade_mask_rcnn_r50_syncbn_ms_9x', dict(arch='cascade_mask_rcnn', norm='syncbn',
                                                aug='ms', schedule='9x')),
    ('mask_rcnn_r50_syncbn_lsj_100e', dict(aug='lsj', schedule='100e')),
    ('mask_rcnn_r50_gn_3.5k_scratch', dict(data=3500, arm='scratch', schedule=None)),
    ('mask_rcnn_r50_gn_10k_pretrained', dict(data=10_000, arm='pretrained')),
    ('mask_rcnn_r50_gn_3x_detectron_init', dict(schedule='3x', variant='detectron_init')),
    ('scratch/mask_rcnn_r50_gn_6x_bf16.py', dict(schedule='6x', variant='bf16', arm='scratch')),
    ('mask_rcnn_r50_gn_6x', dict(variant=None, data=None, aug=None)),
    ('mask_rcnn_gn_shapes', dict(arch=None, arm=None)),
    ('my_detector_pretrained', dict(arch=None, arm='pretrained')),
])
def test_parse_config_name(name, expected):
    key = parse_config_name(name)
    for field, value in expected.items():
        assert getattr(key, field) == value, (name, field)


def test_every_config_of_the_grid_parses():
    """The names in configs/scratch and configs/pretrained all follow the grammar."""
    from pathlib import Path
    configs = Path(__file__).resolve().parents[2] / 'configs'
    stems = [p.stem for folder in ('scratch', 'pretrained') for p in (configs / folder).glob('*.py')]
    assert stems and all(parse_config_name(s).parsed for s in stems), \
        [s for s in stems if not parse_config_name(s).parsed]
