"""A mocked runner for hook unit tests (as in MMDetection's hook tests)."""
import logging
from types import SimpleNamespace
from unittest.mock import MagicMock

from mmengine.config import Config
from mmengine.logging import MessageHub


class _Loader(SimpleNamespace):
    pass


def make_mock_runner(tmp_path, *, model=None, max_iters=100, batch_size=2, steps=(),
                     val_interval=100, cfg=None, it=0):
    runner = MagicMock()
    runner.work_dir = str(tmp_path)
    runner.iter = it
    runner.logger = logging.getLogger('mock_runner')
    runner.message_hub = MessageHub.get_instance(f'mock-{id(runner)}')
    config_file = tmp_path / 'my_config.py'
    config_file.write_text('')
    runner.cfg = Config(cfg or {}, filename=str(config_file))
    loop = MagicMock()
    loop.max_iters = max_iters
    loop.val_begin = 1
    loop.val_interval = val_interval
    loop.dataloader = _Loader(batch_size=batch_size)
    loop.schedule = SimpleNamespace(steps=tuple(steps), describe=lambda: 'schedule')
    runner.train_loop = loop
    runner._train_loop = loop
    runner.train_dataloader = loop.dataloader
    if model is not None:
        runner.model = model
    return runner
