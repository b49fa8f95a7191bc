"""Tests of the synthetic shapes dataset generator."""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmscratch.datasets import (SHAPE_CLASSES, dataset_is_complete,
                                generate_shapes_dataset)
from mmscratch.datasets.shapes import mask_to_polygons, read_dataset_params
from mmscratch.datasets.shapes_render import (MIN_FRAGMENT_AREA, MIN_VISIBLE_AREA,
                                              MIN_VISIBLE_FRACTION, make_image_rng,
                                              render_sample)

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL_ARGS = dict(num_train=12, num_val=4, image_size=64, seed=3)


def file_hashes(root: Path) -> dict:
    """sha256 of every file under ``root``, keyed by relative path."""
    return {
        str(path.relative_to(root)):
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob('*')) if path.is_file()
    }


def load_coco(out_dir: Path, split: str) -> COCO:
    coco = COCO()
    with open(out_dir / 'annotations' / f'instances_{split}.json') as file:
        coco.dataset = json.load(file)
    coco.createIndex()
    return coco


@pytest.fixture(scope='module')
def small_dataset(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('shapes_small')
    summary = generate_shapes_dataset(out_dir, **SMALL_ARGS)
    return out_dir, summary


@pytest.fixture(scope='module')
def medium_train(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('shapes_medium')
    generate_shapes_dataset(
        out_dir, num_train=60, num_val=1, image_size=64, seed=0)
    return load_coco(out_dir, 'train')


def test_same_seed_gives_byte_identical_files(small_dataset, tmp_path):
    out_dir, _ = small_dataset
    generate_shapes_dataset(tmp_path, **SMALL_ARGS)
    first, second = file_hashes(out_dir), file_hashes(tmp_path)
    assert len(first) == 12 + 4 + 2
    assert first == second


def test_different_seed_gives_different_images(small_dataset, tmp_path):
    out_dir, _ = small_dataset
    generate_shapes_dataset(tmp_path, **{**SMALL_ARGS, 'seed': 4})
    first, second = file_hashes(out_dir), file_hashes(tmp_path)
    assert first.keys() == second.keys()
    assert all(first[name] != second[name] for name in first)


def test_train_and_val_share_no_image(small_dataset):
    out_dir, _ = small_dataset
    hashes = file_hashes(out_dir)
    train = {h for name, h in hashes.items() if name.startswith('train')}
    val = {h for name, h in hashes.items() if name.startswith('val')}
    assert len(train) == 12 and len(val) == 4
    assert not train & val


@pytest.mark.parametrize('split', ['train', 'val'])
def test_annotations_are_valid_coco(small_dataset, split):
    out_dir, summary = small_dataset
    coco = load_coco(out_dir, split)
    size = SMALL_ARGS['image_size']

    assert coco.dataset['categories'] == [{
        'id': index + 1,
        'name': name,
        'supercategory': 'shape'
    } for index, name in enumerate(SHAPE_CLASSES)]
    assert {'info', 'licenses'} <= coco.dataset.keys()

    image_ids = [image['id'] for image in coco.dataset['images']]
    assert len(set(image_ids)) == len(image_ids)
    for image in coco.dataset['images']:
        pixels = cv2.imread(str(out_dir / split / image['file_name']))
        assert pixels is not None
        assert pixels.shape == (image['height'], image['width'], 3)
        assert image['width'] == image['height'] == size

    annotations = coco.dataset['annotations']
    assert len(annotations) == summary['splits'][split]['num_instances']
    annotation_ids = [annotation['id'] for annotation in annotations]
    assert sorted(annotation_ids) == list(range(1, len(annotations) + 1))
    for annotation in annotations:
        assert annotation['image_id'] in coco.imgs
        assert annotation['category_id'] in range(1, len(SHAPE_CLASSES) + 1)
        assert annotation['iscrowd'] == 0
        assert annotation['area'] >= MIN_VISIBLE_AREA
        for polygon in annotation['segmentation']:
            assert len(polygon) >= 6 and len(polygon) % 2 == 0
        mask = coco.annToMask(annotation)
        # Polygons follow pixel edges, so they rasterise to exactly `area`.
        assert mask.sum() == annotation['area']
        x, y, w, h = annotation['bbox']
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= size and y + h <= size
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        assert [x, y, w, h] == [
            cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
        ]


def test_files_match_rendered_samples(small_dataset):
    """Each PNG equals its re-rendered image and each annotation equals the
    visible mask of the shape it describes."""
    out_dir, _ = small_dataset
    coco = load_coco(out_dir, 'train')
    for index in range(SMALL_ARGS['num_train']):
        image, instances = render_sample(
            make_image_rng(SMALL_ARGS['seed'], 'train', index),
            SMALL_ARGS['image_size'])
        on_disk = cv2.imread(str(out_dir / 'train' / f'{index:06d}.png'))
        np.testing.assert_array_equal(on_disk, image)
        annotations = coco.imgToAnns[index + 1]
        assert len(annotations) == len(instances)
        for annotation, instance in zip(annotations, instances):
            assert annotation['category_id'] == instance.category_id
            np.testing.assert_array_equal(
                coco.annToMask(annotation).astype(bool),
                instance.visible_mask)


def test_occlusion_and_visibility_rule():
    """Shapes overlap, and every visible part obeys the visibility rule and
    is exactly representable by its polygons (no holes, no tiny pieces)."""
    size = 96
    occluded = 0
    for index in range(150):
        _, instances = render_sample(
            make_image_rng(0, 'train', index), image_size=size)
        assert 1 <= len(instances) <= 6
        covered_later = np.zeros((size, size), dtype=bool)
        for instance in reversed(instances):
            # Visible part = full shape minus every shape drawn on top.
            np.testing.assert_array_equal(
                instance.visible_mask, instance.full_mask & ~covered_later)
            covered_later |= instance.full_mask
            visible_area = instance.visible_mask.sum()
            assert visible_area >= MIN_VISIBLE_AREA
            assert visible_area >= MIN_VISIBLE_FRACTION * instance.full_area
            occluded += int(visible_area < instance.full_area)

            _, _, stats, _ = cv2.connectedComponentsWithStats(
                instance.visible_mask.astype(np.uint8), connectivity=8)
            assert stats[1:, cv2.CC_STAT_AREA].min() >= MIN_FRAGMENT_AREA
            polygons = mask_to_polygons(instance.visible_mask)
            decoded = mask_utils.decode(
                mask_utils.merge(
                    mask_utils.frPyObjects(polygons, size, size)))
            np.testing.assert_array_equal(
                decoded.astype(bool), instance.visible_mask)
    assert occluded >= 30


def test_shapes_contrast_with_surrounding_background():
    """A shape's mean colour differs clearly from the background around it,
    and backgrounds are textured rather than flat."""
    contrasts, background_stds = [], []
    for index in range(30):
        image, instances = render_sample(
            make_image_rng(1, 'val', index), image_size=96)
        pixels = image.astype(np.float64)
        any_shape = np.zeros(image.shape[:2], dtype=bool)
        for instance in instances:
            any_shape |= instance.full_mask
        background_stds.append(pixels[~any_shape].std(axis=0).mean())
        for instance in instances:
            ring = cv2.dilate(instance.full_mask.astype(np.uint8),
                              np.ones((7, 7), np.uint8)).astype(bool)
            ring &= ~any_shape
            if ring.sum() >= 10:
                contrasts.append(
                    np.linalg.norm(pixels[instance.visible_mask].mean(0) -
                                   pixels[ring].mean(0)))
    assert len(contrasts) >= 30
    # Without the colour-distance rule about 8% of shapes fall below 80.
    assert np.mean(np.array(contrasts) >= 80) >= 0.97
    assert min(background_stds) > 3


def test_every_category_appears(medium_train):
    counts = {
        cat_id: len(image_ids)  # one entry per instance
        for cat_id, image_ids in medium_train.catToImgs.items()
    }
    assert all(counts.get(index + 1, 0) >= 10
               for index in range(len(SHAPE_CLASSES)))
    areas = [ann['area'] for ann in medium_train.dataset['annotations']]
    # Shapes span ~10% to ~50% of the 64 px side: from a few dozen pixels
    # to the area of a ~25 px disc.
    assert min(areas) < 100 and max(areas) > 500


def test_mask_to_polygons_roundtrip():
    mask = np.zeros((20, 30), dtype=bool)
    mask[2:5, 3:9] = True  # rectangle
    mask[10, 10] = mask[11, 11] = mask[12, 12] = True  # diagonal run
    mask[15:19, 20:28] = True
    mask[16:19, 24] = False  # slot open at the bottom edge, not a hole
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 3
    decoded = mask_utils.decode(
        mask_utils.merge(mask_utils.frPyObjects(polygons, 20, 30)))
    np.testing.assert_array_equal(decoded.astype(bool), mask)


def test_dataset_is_complete_detects_missing_parts(tmp_path):
    generate_shapes_dataset(
        tmp_path, num_train=3, num_val=2, image_size=32, seed=0)
    assert dataset_is_complete(tmp_path)
    assert read_dataset_params(tmp_path)['num_train'] == 3

    (tmp_path / 'val' / '000001.png').unlink()
    assert not dataset_is_complete(tmp_path)
    generate_shapes_dataset(
        tmp_path, num_train=3, num_val=2, image_size=32, seed=0)
    assert dataset_is_complete(tmp_path)

    ann_file = tmp_path / 'annotations' / 'instances_train.json'
    ann_file.write_text(ann_file.read_text()[:50])
    assert not dataset_is_complete(tmp_path)
    ann_file.unlink()
    assert not dataset_is_complete(tmp_path)
    assert not dataset_is_complete(tmp_path / 'missing')


def test_regeneration_removes_stale_images(tmp_path):
    generate_shapes_dataset(
        tmp_path, num_train=5, num_val=2, image_size=32, seed=0)
    summary = generate_shapes_dataset(
        tmp_path, num_train=3, num_val=2, image_size=32, seed=0)
    assert sorted(p.name for p in (tmp_path / 'train').iterdir()) == [
        '000000.png', '000001.png', '000002.png'
    ]
    assert summary['splits']['train']['num_images'] == 3
    assert sum(summary['splits']['train']['instances_per_class'].values()
               ) == summary['splits']['train']['num_instances']


@pytest.mark.parametrize('bad_args', [
    dict(num_train=0),
    dict(num_val=0),
    dict(num_train=2.5),
    dict(image_size=16),
    dict(seed=-1),
    dict(min_instances=0),
    dict(min_instances=4, max_instances=3),
    dict(max_instances=100),
])
def test_invalid_arguments_raise_value_error(bad_args, tmp_path):
    with pytest.raises(ValueError):
        generate_shapes_dataset(tmp_path / 'out', **bad_args)
    assert not (tmp_path / 'out').exists()


def load_cli_module():
    """Import ``tools/make_shapes_dataset.py`` (not a package) in-process."""
    path = REPO_ROOT / 'tools' / 'make_shapes_dataset.py'
    spec = importlib.util.spec_from_file_location('make_shapes_dataset', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cli_generates_and_is_idempotent(tmp_path, capsys):
    out_dir = tmp_path / 'shapes'
    args = ['--out', str(out_dir), '--num-train', '4', '--num-val', '2',
            '--image-size', '48', '--seed', '5']
    # One real subprocess run checks the script works as a program (each
    # one pays the package import time, so the other runs are in-process).
    first = subprocess.run(
        [sys.executable, 'tools/make_shapes_dataset.py', *args],
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=120)
    assert first.returncode == 0, first.stderr
    assert 'train: 4 images' in first.stdout
    assert dataset_is_complete(out_dir)
    hashes = file_hashes(out_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in out_dir.rglob('*.json')}

    cli = load_cli_module()
    assert cli.main(args) == 0
    assert 'already complete' in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    assert cli.main([*args[:-1], '6']) == 0
    assert 'warning' in capsys.readouterr().out
    assert file_hashes(out_dir) == hashes

    assert cli.main([*args, '--force']) == 0
    assert 'Generated' in capsys.readouterr().out
    assert file_hashes(out_dir) == hashes

    assert cli.main(['--out', str(tmp_path / 'bad'), '--image-size', '8']) == 2
    assert 'image_size' in capsys.readouterr().err
    assert not (tmp_path / 'bad').exists()
