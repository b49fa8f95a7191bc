"""RunInfoHook: run_info.json says what the run is, and the tools read it back."""
import json

from mmscratch.utils.run_files import read_run_info
from mmscratch.testing.runners import toy_runner


def test_a_fresh_run_is_recorded_as_from_scratch(tmp_path):
    toy_runner(tmp_path, 4, custom_hooks=[dict(type='RunInfoHook')]).train()
    info = json.loads((tmp_path / 'run_info.json').read_text())
    assert info['arm'] == 'scratch' and info['pretrained_sources'] == []
    assert (info['max_iters'], info['batch_size'], info['world_size']) == (4, 4, 1)
    assert info['schedule'] == '4 it' and info['config_name'] == 'run'
    assert read_run_info(str(tmp_path))['arm'] == 'scratch'


def test_load_from_without_resume_is_pretrained_and_resume_is_not(tmp_path):
    first = tmp_path / 'first'
    toy_runner(first, 3, checkpoint=dict(interval=3)).train()
    ckpt = str(first / 'iter_3.pth')
    finetune = tmp_path / 'finetune'
    toy_runner(finetune, 2, load_from=ckpt, custom_hooks=[dict(type='RunInfoHook')]).train()
    info = read_run_info(str(finetune))
    assert info['arm'] == 'pretrained' and info['pretrained_sources'] == [f'load_from: {ckpt}']
    toy_runner(first, 5, resume=True, load_from=ckpt, checkpoint=dict(interval=3),
               custom_hooks=[dict(type='RunInfoHook')]).train()
    assert read_run_info(str(first))['arm'] == 'scratch'
