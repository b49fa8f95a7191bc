"""The generated pre-training set and its MMEngine dataset: determinism, classes,
completeness, and annotation files that attack the loader."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mmscratch.datasets import SHAPE_CLASSES
from mmscratch.datasets.pretrain_dataset import GeneratedClsDataset, PackClsInputs
from mmscratch.datasets.pretrain_set import (FAMILIES, FILLS, PRETRAIN_CLASSES, annotation_path,
                                             class_index, generate_pretrain_dataset,
                                             make_pretrain_rng, pretrain_set_is_complete,
                                             read_pretrain_params, render_pretrain_sample)
from mmscratch.datasets.shapes_render import make_image_rng

ARGS = dict(num_train=12, num_val=4, image_size=48, seed=5)


def hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('pretrain_set')
    summary = generate_pretrain_dataset(root, **ARGS)
    return root, summary


def test_classes_are_families_times_fills_and_not_the_detection_task():
    assert len(PRETRAIN_CLASSES) == len(FAMILIES) * len(FILLS) == 100
    assert len(set(PRETRAIN_CLASSES)) == 100
    assert not set(FAMILIES) & set(SHAPE_CLASSES)
    assert PRETRAIN_CLASSES[class_index('heart', 'dots')] == 'heart_dots'


def test_same_arguments_give_byte_identical_files(small_set, tmp_path):
    root, _ = small_set
    generate_pretrain_dataset(tmp_path / 'again', **ARGS)
    assert hashes(root) == hashes(tmp_path / 'again')
    other = dict(ARGS, seed=6)
    generate_pretrain_dataset(tmp_path / 'other', **other)
    assert hashes(root) != hashes(tmp_path / 'other')


def test_layout_labels_and_params(small_set):
    root, summary = small_set
    train = json.loads(annotation_path(root, 'train').read_text())
    assert train['metainfo']['classes'] == list(PRETRAIN_CLASSES)
    assert [r['gt_label'] for r in train['data_list']] == list(range(12))  # balanced, in order
    assert summary['splits']['val']['num_images'] == 4
    assert read_pretrain_params(root) == ARGS
    assert pretrain_set_is_complete(root)


def test_random_streams_differ_from_the_shapes_set_and_between_splits():
    a = make_pretrain_rng(0, 'train', 3).random(4)
    assert not np.allclose(a, make_pretrain_rng(0, 'val', 3).random(4))
    assert not np.allclose(a, make_image_rng(0, 'train', 3).random(4))


def test_images_are_the_class_not_a_blank():
    for label in (0, 57, 99):
        image = render_pretrain_sample(make_pretrain_rng(1, 'train', label), label, 64)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert image.std() > 10
    with pytest.raises(ValueError, match='label'):
        render_pretrain_sample(make_pretrain_rng(1, 'train', 0), 100, 64)


def test_interrupted_generation_is_incomplete(small_set, tmp_path):
    generate_pretrain_dataset(tmp_path, **ARGS)
    (tmp_path / 'val' / '000002.png').unlink()
    assert not pretrain_set_is_complete(tmp_path)
    generate_pretrain_dataset(tmp_path, **ARGS)
    annotation_path(tmp_path, 'train').unlink()
    assert not pretrain_set_is_complete(tmp_path)


@pytest.mark.parametrize('bad', [dict(num_train=0), dict(image_size=16), dict(seed=-1),
                                 dict(num_val=True)])
def test_bad_arguments_name_the_argument(tmp_path, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        generate_pretrain_dataset(tmp_path, **dict(ARGS, **bad))
    assert not (tmp_path / 'meta' / 'train.json').exists()


def test_dataset_loads_the_set_and_packs_labels(small_set):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')  # as the configs' default_scope: the transforms' registry
    root, _ = small_set
    ds = GeneratedClsDataset(data_root=str(root), ann_file='meta/train.json',
                             data_prefix=dict(img_path='train/'),
                             pipeline=[dict(type='LoadImageFromFile'), dict(type='PackClsInputs')])
    assert len(ds) == 12 and ds.metainfo['classes'] == PRETRAIN_CLASSES
    sample = ds[5]
    assert tuple(sample['inputs'].shape) == (3, 48, 48) and sample['data_samples'] == 5
    packed = PackClsInputs()(dict(img=np.zeros((4, 4), np.uint8), gt_label=2))
    assert tuple(packed['inputs'].shape) == (1, 4, 4)


@pytest.mark.parametrize('record, field', [
    (dict(img_path='../../etc/passwd', gt_label=0), 'img_path'),
    (dict(img_path='/etc/passwd', gt_label=0), 'img_path'),
    (dict(img_path='sub/000000.png', gt_label=0), 'img_path'),
    (dict(img_path='000000.png', gt_label=100), 'gt_label'),
    (dict(img_path='000000.png', gt_label=-1), 'gt_label'),
    (dict(img_path='000000.png', gt_label=True), 'gt_label'),
    (dict(img_path='000000.png', gt_label='3'), 'gt_label'),
])
def test_hostile_records_are_refused_naming_record_and_field(small_set, tmp_path, record, field):
    root, _ = small_set
    document = json.loads(annotation_path(root, 'train').read_text())
    document['data_list'][7] = record
    ann = tmp_path / 'train.json'
    ann.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=rf'data_list\[7\]\.{field}'):
        GeneratedClsDataset(ann_file=str(ann), data_prefix=dict(img_path=str(root / 'train')),
                            pipeline=[])


@pytest.mark.parametrize('text, message', [
    ('{"data_list": [', 'not a JSON'),
    ('[1, 2]', 'data_list'),
    ('{"data_list": [], "metainfo": {"classes": ["a", "b"]}}', 'empty'),
    ('{"data_list": [{"img_path": "a.png", "gt_label": 0}], "metainfo": {}}', 'classes'),
])
def test_malformed_files_are_one_value_error(tmp_path, text, message):
    ann = tmp_path / 'bad.json'
    ann.write_text(text)
    with pytest.raises(ValueError, match=message):
        GeneratedClsDataset(ann_file=str(ann), pipeline=[])
