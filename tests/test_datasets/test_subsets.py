"""Nested random subsets of COCO annotation files (tools/make_subset.py)."""
import json
import sys
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from mmscratch.datasets.shapes import generate_shapes_dataset
from mmscratch.datasets.subsets import (format_stats, make_subset, parse_size, size_tag,
                                        subset_order, subset_stats)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import make_subset as subset_tool  # noqa: E402


@pytest.fixture(scope='module')
def shapes_ann(tmp_path_factory):
    root = tmp_path_factory.mktemp('subset_shapes')
    generate_shapes_dataset(str(root), num_train=60, num_val=2, image_size=64, seed=5)
    return root / 'annotations' / 'instances_train.json'


@pytest.fixture
def coco(shapes_ann):
    return json.loads(shapes_ann.read_text())


def _ids(subset):
    return {img['id'] for img in subset['images']}


def _rare_category_dataset():
    """40 images of category 1; category 2 only in image 37, category 3 only in 12
    (alongside category 1), a crowd-only category 4, an orphan annotation."""
    images = [dict(id=i, file_name=f'{i}.png', width=10, height=10) for i in range(1, 41)]
    anns = [dict(id=i, image_id=i, category_id=1, iscrowd=0, bbox=[0, 0, 2, 2], area=4)
            for i in range(1, 41)]
    anns += [dict(id=100, image_id=37, category_id=2, iscrowd=0, bbox=[0, 0, 2, 2], area=4),
             dict(id=101, image_id=12, category_id=3, iscrowd=0, bbox=[0, 0, 2, 2], area=4),
             dict(id=102, image_id=5, category_id=4, iscrowd=1, bbox=[0, 0, 2, 2], area=4),
             dict(id=103, image_id=999, category_id=1, iscrowd=0, bbox=[0, 0, 2, 2], area=4)]
    cats = [dict(id=c, name=f'c{c}') for c in (1, 2, 3, 4)]
    return dict(images=images, annotations=anns, categories=cats)


def test_same_seed_same_subset_other_seed_other_subset(coco):
    first = make_subset(coco, 20, seed=3)
    assert make_subset(json.loads(json.dumps(coco)), 20, seed=3) == first
    assert _ids(make_subset(coco, 20, seed=4)) != _ids(first)
    # the order of the file does not matter, only its content
    shuffled = dict(coco, images=coco['images'][::-1], annotations=coco['annotations'][::-1])
    assert _ids(make_subset(shuffled, 20, seed=3)) == _ids(first)


def test_subsets_of_one_seed_are_nested(coco):
    sizes = [5, 10, 25, 40, 60]
    subsets = [_ids(make_subset(coco, n, seed=1)) for n in sizes]
    assert [len(s) for s in subsets] == sizes
    for small, large in zip(subsets, subsets[1:]):
        assert small < large


def test_every_category_is_covered_once_there_is_room():
    data = _rare_category_dataset()
    order = subset_order(data, seed=0)
    # category 2 lives in one image only: that image is placed first (rarest),
    # and category 3's only image comes next, whatever the permutation
    assert order[:2] == [37, 12]
    for seed in range(5):
        sub = make_subset(data, 2, seed=seed)
        present = {r['name'] for r in subset_stats(sub) if r['instances']}
        assert present == {'c1', 'c2', 'c3'}  # c4 is crowd-only: nothing to train on
    # too small to hold all: the rarest category wins
    assert _ids(make_subset(data, 1, seed=0)) == {37}


def test_shapes_subsets_cover_all_five_classes(coco):
    for n in (5, 8, 13):
        rows = subset_stats(make_subset(coco, n, seed=0))
        assert all(r['images'] > 0 for r in rows), rows


def test_orphans_and_other_images_annotations_are_dropped():
    data = _rare_category_dataset()
    sub = make_subset(data, 10, seed=0)
    kept = _ids(sub)
    assert all(a['image_id'] in kept for a in sub['annotations'])
    assert 103 not in {a['id'] for a in sub['annotations']}
    assert len(sub['categories']) == 4  # class ids never change between subsets
    assert sub['info']['mmscratch_subset']['num_images'] == 10


def test_images_without_annotations_are_left_out_unless_asked(coco):
    data = json.loads(json.dumps(coco))
    data['images'].append(dict(id=10_000, file_name='empty.png', width=64, height=64))
    everything = len(data['images'])
    with pytest.raises(ValueError, match='annotated images'):
        make_subset(data, everything, seed=0)
    assert len(make_subset(data, everything, seed=0, keep_empty=True)['images']) == everything
    with pytest.raises(ValueError):
        make_subset(data, 0)


def test_cli_writes_valid_nested_files_and_prints_counts(shapes_ann, tmp_path, capsys):
    out = tmp_path / 'sub_{size}.json'
    subset_tool.main([str(shapes_ann), '--images', '10', '30', '--seed', '2', '--out', str(out)])
    printed = capsys.readouterr().out
    assert '## 10 subset (seed 2)' in printed and '## 30 subset (seed 2)' in printed
    assert '| circle' in printed and '5/5 categories present' in printed
    files = [tmp_path / 'sub_10.json', tmp_path / 'sub_30.json']
    cocos = []
    for path in files:
        api = COCO(str(path))  # pycocotools accepts it and indexes every annotation
        assert len(api.getImgIds()) == int(path.stem.split('_')[1])
        assert all(api.imgs[a['image_id']] for a in api.anns.values())
        cocos.append(api)
    assert set(cocos[0].getImgIds()) < set(cocos[1].getImgIds())
    assert format_stats(json.loads(files[0].read_text())).splitlines()[2].startswith('| circle')


def test_cli_refuses_ambiguous_output_and_oversized_subsets(shapes_ann, tmp_path):
    with pytest.raises(ValueError, match='need {size} in --out'):
        subset_tool.main([str(shapes_ann), '--images', '5', '10',
                          '--out', str(tmp_path / 'x.json')])
    with pytest.raises(ValueError, match='asked for 1000 images'):
        subset_tool.main([str(shapes_ann), '--images', '1k', '--out', str(tmp_path / 'x.json')])


@pytest.mark.parametrize('n, tag', [(1000, '1k'), (3500, '3.5k'), (10_000, '10k'),
                                    (35_000, '35k'), (16, '16'), (1234, '1234')])
def test_size_tags_round_trip(n, tag):
    assert size_tag(n) == tag
    assert parse_size(tag) == n
