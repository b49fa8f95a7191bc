"""What stays frozen is listed by every report of a run.

The pretrained twins freeze the stem and res2 (``frozen_stages=1``, Detectron's
``FREEZE_AT: 2``) and run without ScratchGuardHook, so the frozen parts must be
visible elsewhere: ``run_info.json`` (RunInfoHook), the dry run, and the
guard's summary when a user adds it.
"""
import json

import torch.nn as nn

from mmscratch.apis.dry_run import describe_run
from mmscratch.engine.hooks import ScratchGuardHook
from mmscratch.engine.hooks.scratch_guard_hook import frozen_parts
from mmscratch.utils.config_loading import load_config
from mmscratch.utils.run_files import RUN_INFO_FILE, read_run_info
from mmscratch.testing.runners import RandomToyModel, toy_runner

from .test_scratch_guard_hook import TinyDetector, _runner

STEM_AND_RES2 = ['backbone.conv1', 'backbone.gn1', 'backbone.layer1']


def test_frozen_parts_names_the_outermost_frozen_modules():
    assert frozen_parts(TinyDetector('GN')) == []
    assert frozen_parts(TinyDetector('GN', frozen=True)) == ['backbone.0']
    model = TinyDetector('GN')
    for p in model.neck.parameters():
        p.requires_grad = False
    model.roi_head.bbox_head[1].bias.requires_grad = False  # one tensor of a trained module
    assert frozen_parts(model) == ['neck', 'roi_head.bbox_head.1.bias']
    for p in model.parameters():
        p.requires_grad = False
    assert frozen_parts(model) == ['(model)']


def test_the_guard_summary_lists_them(tmp_path):
    hook = ScratchGuardHook(strict=False)
    assert '  frozen nothing' in hook.summary(_runner(tmp_path, TinyDetector('GN')))
    summary = hook.summary(_runner(tmp_path, TinyDetector('GN', frozen=True)))
    assert '  frozen backbone.0' in summary.splitlines()


class PartlyFrozenToy(RandomToyModel):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(2, 2)  # not used in forward, frozen like a pretrained stem
        for p in self.stem.parameters():
            p.requires_grad = False


def test_run_info_records_them_and_the_reader_validates_them(tmp_path):
    toy_runner(tmp_path / 'frozen', 2, model=PartlyFrozenToy(),
               custom_hooks=[dict(type='RunInfoHook')]).train()
    info = json.loads((tmp_path / 'frozen' / RUN_INFO_FILE).read_text())
    assert info['frozen'] == ['stem']
    assert read_run_info(str(tmp_path / 'frozen'))['frozen'] == ['stem']
    toy_runner(tmp_path / 'free', 2, custom_hooks=[dict(type='RunInfoHook')]).train()
    assert read_run_info(str(tmp_path / 'free'))['frozen'] == []
    # a hostile run_info.json: names that are not module names are not read back
    for bad in (['stem', '../../etc/passwd'], 'stem', [1], ['x' * 500]):
        info['frozen'] = bad
        (tmp_path / 'frozen' / RUN_INFO_FILE).write_text(json.dumps(info))
        assert 'frozen' not in read_run_info(str(tmp_path / 'frozen')), bad


def test_the_dry_run_lists_a_pretrained_twins_stem_and_res2():
    twin = describe_run(load_config('configs/pretrained/mask_rcnn_r50_gn_2x.py'))
    assert f"  frozen     {', '.join(STEM_AND_RES2)}" in twin.splitlines()
    assert '  init       pretrained: ' in twin
    scratch = describe_run(load_config('configs/scratch/mask_rcnn_r50_gn_2x.py'))
    assert '  frozen     nothing' in scratch.splitlines()
    syncbn = describe_run(load_config('configs/pretrained/mask_rcnn_r50_syncbn_2x.py'), 8)
    assert '  frozen     backbone.conv1, backbone.bn1, backbone.layer1' in syncbn.splitlines()
