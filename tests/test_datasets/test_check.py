"""tools/check_dataset.py on a deliberately damaged copy of the shapes dataset.

Every kind of damage the checker knows is planted once, at a known image or
annotation id; the report must name each one there, and nothing on the
pristine dataset.
"""
import copy
import json
import math
import runpy
import shutil
import sys

import cv2
import pytest

from mmscratch.datasets.check import KINDS, check_coco_dataset
from mmscratch.datasets.shapes import generate_shapes_dataset

REPO_TOOL = 'tools/check_dataset.py'
main = runpy.run_path(REPO_TOOL)['main']  # the tool's own main (argparse lives in tools/)


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes')
    generate_shapes_dataset(str(root), num_train=24, num_val=4, image_size=64, seed=0)
    return root


def _damage(src, dst):
    """Copy the train split and plant one of each problem; returns the expected
    (kind, image_id, ann_id) triples."""
    shutil.copytree(src, dst)
    ann_file = dst / 'annotations' / 'instances_train.json'
    data = json.loads(ann_file.read_text())
    images = {img['id']: img for img in data['images']}
    anns_of = {}
    for ann in data['annotations']:
        anns_of.setdefault(ann['image_id'], []).append(ann)
    img_dir = dst / 'train'
    expected = []

    def path(image_id):
        return img_dir / images[image_id]['file_name']

    def ann(image_id, k=0):
        return anns_of[image_id][k]

    # image files
    path(2).unlink()
    expected.append(('image_missing', 2, None))
    raw = path(3).read_bytes()
    path(3).write_bytes(raw[:len(raw) // 2])  # truncated PNG
    expected.append(('image_unreadable', 3, None))
    path(4).write_bytes(b'this is not an image')
    expected.append(('image_unreadable', 4, None))
    cv2.imwrite(str(path(5)), cv2.resize(cv2.imread(str(path(5))), (32, 48)))
    expected.append(('image_size_mismatch', 5, None))
    # boxes
    ann(6)['bbox'][2] = 0
    expected.append(('bbox_empty', 6, ann(6)['id']))
    ann(7)['bbox'][3] = -5
    expected.append(('bbox_empty', 7, ann(7)['id']))
    ann(8)['bbox'][0] = math.nan
    expected.append(('bbox_nonfinite', 8, ann(8)['id']))
    ann(9)['bbox'][1] = math.inf
    expected.append(('bbox_nonfinite', 9, ann(9)['id']))
    ann(10)['bbox'][2] = 200  # wider than the 64 px image
    expected.append(('bbox_out_of_image', 10, ann(10)['id']))
    ann(11)['bbox'] = [1, 2, 3]
    expected.append(('bbox_invalid', 11, ann(11)['id']))
    # segmentations
    ann(12)['segmentation'] = [[1.0, 1.0, 5.0, 5.0]]  # 2 points
    expected.append(('segm_invalid_polygon', 12, ann(12)['id']))
    ann(13)['segmentation'] = [[1.0, 1.0, 5.0, 5.0, 9.0]]  # odd length
    expected.append(('segm_invalid_polygon', 13, ann(13)['id']))
    ann(14)['segmentation'] = [[1.0, 1.0, 5.0, math.nan, 9.0, 1.0]]
    expected.append(('segm_invalid_polygon', 14, ann(14)['id']))
    ann(15)['segmentation'][0][0] = -30.0
    expected.append(('segm_out_of_image', 15, ann(15)['id']))
    ann(16)['segmentation'] = dict(size=[32, 32], counts=[0, 1024])  # wrong size
    expected.append(('segm_invalid_rle', 16, ann(16)['id']))
    ann(17)['segmentation'] = dict(size=[64, 64], counts=[0, 100])  # does not cover 64x64
    expected.append(('segm_invalid_rle', 17, ann(17)['id']))
    ann(17, 1)['segmentation'] = dict(size=[64, 64], counts='#not-an-rle#')
    expected.append(('segm_invalid_rle', 17, ann(17, 1)['id']))
    ann(18)['segmentation'] = 'polygon'
    expected.append(('segm_invalid', 18, ann(18)['id']))
    # ids, categories and the rest
    ann(19)['category_id'] = 99
    expected.append(('unknown_category_id', 19, ann(19)['id']))
    ann(20)['id'] = ann(20, 1)['id']
    expected.append(('duplicate_annotation_id', 20, ann(20)['id']))
    ann(21)['area'] = 0
    expected.append(('area_invalid', 21, ann(21)['id']))
    ann(21, 1)['iscrowd'] = 2
    expected.append(('iscrowd_invalid', 21, ann(21, 1)['id']))
    del ann(22)['bbox']
    expected.append(('missing_field', 22, ann(22)['id']))
    orphan = dict(copy.deepcopy(ann(23)), id=10 ** 6, image_id=9999)
    data['annotations'].append(orphan)
    expected.append(('unknown_image_id', 9999, 10 ** 6))
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 24]
    expected.append(('image_without_annotations', 24, None))
    data['images'].append(dict(images[1], file_name=images[23]['file_name']))
    expected.append(('duplicate_image_id', 1, None))
    data['images'].append(dict(images[1], id=25))
    expected.append(('duplicate_file_name', 25, None))
    expected.append(('image_without_annotations', 25, None))
    data['categories'].append(dict(data['categories'][0]))
    expected.append(('duplicate_category_id', None, None))
    ann_file.write_text(json.dumps(data))  # NaN/inf as JSON's NaN/Infinity
    return ann_file, img_dir, expected


def test_pristine_dataset_is_clean(pristine, capsys):
    report = check_coco_dataset(pristine / 'annotations' / 'instances_train.json',
                                pristine / 'train')
    assert report.problems == [] and report.num_images == 24 and report.exit_code() == 0
    code = main([str(pristine / 'annotations' / 'instances_val.json'), str(pristine / 'val'),
                 '--workers', '0'])
    assert code == 0 and 'OK: no errors or warnings' in capsys.readouterr().out


@pytest.mark.parametrize('workers', [0, 2])
def test_every_planted_problem_is_reported_at_its_id(pristine, tmp_path, workers):
    ann_file, img_dir, expected = _damage(pristine, tmp_path / 'damaged')
    report = check_coco_dataset(ann_file, img_dir, workers=workers)
    found = {(p.kind, p.image_id, p.ann_id) for p in report.problems}
    assert sorted(set(expected) - found, key=str) == []
    # nothing reported that was not planted (the damage is all there is)
    assert sorted(found - set(expected), key=str) == []
    planted_kinds = {k for k, _, _ in expected}
    assert planted_kinds == set(KINDS) - {'json_invalid', 'image_dir_missing', 'bbox_tiny',
                                          'bad_image_size'}
    assert report.exit_code() == 1


def test_cli_lists_problems_then_a_summary_table(pristine, tmp_path, capsys, monkeypatch):
    ann_file, img_dir, expected = _damage(pristine, tmp_path / 'damaged')
    monkeypatch.setattr(sys, 'argv', ['check_dataset.py', str(ann_file), str(img_dir),
                                      '--workers', '0', '--json', str(tmp_path / 'r.json')])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(REPO_TOOL, run_name='__main__')
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert 'ERROR   image_missing' in out and 'image_id=2 ' in out
    table = out[out.index('kind '):]
    for kind, _, _ in expected:
        assert kind in table
    assert f'{len([e for e in expected if KINDS[e[0]][0] == "error"])} errors' in table
    assert 'FAILED (exit code 1)' in out
    assert json.loads((tmp_path / 'r.json').read_text())['counts']['image_missing'] == 1


def test_warnings_only_pass_unless_strict(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / 'd')
    ann_file = tmp_path / 'd' / 'annotations' / 'instances_val.json'
    data = json.loads(ann_file.read_text())
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 1]
    ann_file.write_text(json.dumps(data))
    args = [str(ann_file), str(tmp_path / 'd' / 'val'), '--workers', '0']
    assert main(args) == 0
    assert main(args + ['--strict']) == 1


def test_unusable_annotation_file_exits_2(tmp_path):
    (tmp_path / 'a.json').write_text('{"images": []')
    assert main([str(tmp_path / 'a.json'), str(tmp_path)]) == 2
    (tmp_path / 'b.json').write_text('{"images": []}')
    assert main([str(tmp_path / 'b.json'), str(tmp_path)]) == 2
    assert main([str(tmp_path / 'missing.json'), str(tmp_path)]) == 2


def test_a_missing_image_folder_is_one_line_not_one_per_image(pristine, tmp_path, capsys):
    ann = pristine / 'annotations' / 'instances_train.json'
    assert main([str(ann), str(tmp_path / 'no_such_dir'), '--workers', '0']) == 2
    out, err = capsys.readouterr()
    assert err.count('\n') == 1 and err.startswith('error: image folder not found')
    assert 'the 24 images of' in err and '.png' in err
    assert 'image_missing' not in out
