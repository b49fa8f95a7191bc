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


def test_the_seed_is_read_back_only_as_a_plain_non_negative_integer(tmp_path):
    for seed, kept in ((0, True), (7, True), (True, False), ('0', False), (-1, False),
                       (1.0, False), (2 ** 70, False), (None, False)):
        (tmp_path / 'run_info.json').write_text(json.dumps(dict(arm='scratch', seed=seed)))
        info = read_run_info(str(tmp_path))
        assert ('seed' in info) == kept and info.get('seed', seed) == seed
