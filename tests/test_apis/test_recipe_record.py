"""``tools/test.py`` applies only a recipe ``--scratchify`` could have made.

A checkpoint records the recipe its model was built with, and ``tools/test.py``
rebuilds the model with it. That record is data from a file: its ``norm`` becomes
the ``norm_cfg`` of every norm layer, and MMEngine's registry *imports* a dotted
``type`` it does not know (``get_object_from_string``) and builds it with the
record's arguments. A forged record naming a module must import nothing; an
honest one is still applied.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]

CONFIG = '''
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmscratch'], allow_failed_imports=False)
'''

BUILD = textwrap.dedent('''
    import sys
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    from mmscratch.apis.test import apply_recipe
    from mmscratch.utils.config_loading import load_config
    init_default_scope('mmdet')
    for checkpoint in sys.argv[2:]:
        cfg = apply_recipe(load_config(sys.argv[1]), checkpoint, None)
        MODELS.build(cfg.model.backbone)
        print('NORM', checkpoint, dict(cfg.model.backbone.norm_cfg), flush=True)
''')


def _checkpoint(path, norm, schedule):
    recipe = dict(config_name='my_mask_rcnn', scratchified=dict(
        spec='GN:6x', norm=norm, schedule=schedule, base_batch_size=16, val_interval=30000))
    torch.save({'meta': {'mmscratch_recipe': recipe}, 'state_dict': {}}, path)
    return path


def _build(tmp_path, *checkpoints):
    env_path = f'{REPO}:{tmp_path / "site"}'
    return subprocess.run([sys.executable, '-c', BUILD, str(tmp_path / 'my_mask_rcnn.py'),
                           *map(str, checkpoints)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=env_path))


def test_a_forged_recipe_record_imports_and_builds_nothing(tmp_path):
    sentinel = tmp_path / 'pwned'
    package = tmp_path / 'site' / 'evil_norm'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text(textwrap.dedent(f'''
        open({str(sentinel)!r}, 'w').write('imported')
        import torch
        class Norm(torch.nn.BatchNorm2d):
            pass
    '''))
    (tmp_path / 'my_mask_rcnn.py').write_text(CONFIG)
    forged = _checkpoint(tmp_path / 'forged.pth', dict(type='evil_norm.Norm'),
                         dict(multiple=6))
    honest = _checkpoint(tmp_path / 'honest.pth',
                         dict(type='GN', num_groups=16, requires_grad=True), dict(multiple=3))
    proc = _build(tmp_path, forged, honest)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not sentinel.exists()
    assert 'ignored the recipe it records' in proc.stdout + proc.stderr
    assert f"NORM {forged} {{'type': 'BN'" in proc.stdout  # the config as given
    assert f"NORM {honest} {{'type': 'GN', 'requires_grad': True, 'num_groups': 16}}" \
        in proc.stdout
