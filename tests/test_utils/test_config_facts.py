"""has_custom_hook: one check of a config's custom hooks for the flags and the benchmark."""
from mmengine.config import Config

from mmscratch.engine.hooks import ChannelsLastHook, FastCPUOpsHook
from mmscratch.utils.config_facts import has_custom_hook


def test_finds_hooks_by_name_scoped_name_or_class():
    cfg = Config(dict(custom_hooks=[dict(type='mmdet.FastCPUOpsHook'),
                                    dict(type=ChannelsLastHook)]))
    assert has_custom_hook(cfg, 'FastCPUOpsHook')
    assert has_custom_hook(cfg, 'ChannelsLastHook')
    assert not has_custom_hook(cfg, 'ExactResumeHook')
    assert has_custom_hook(dict(custom_hooks=[FastCPUOpsHook()]), 'FastCPUOpsHook')


def test_no_custom_hooks_means_none():
    assert not has_custom_hook(Config(dict()), 'FastCPUOpsHook')
    assert not has_custom_hook(dict(custom_hooks=None), 'FastCPUOpsHook')
