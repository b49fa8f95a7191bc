"""``PlainDataCheckpointHook``: checkpoints that a safe loader reads with nothing allow-listed.

When it runs:

* ``before_save_checkpoint``, after every other hook (priority ``LOWEST``),
  on every save (``SafeCheckpointHook``, MMEngine's ``CheckpointHook``, a
  direct ``runner.save_checkpoint``: all of them call this stage): the
  numpy arrays, scalars and dtypes and the ``HistoryBuffer``s MMEngine and
  the other hooks put into the checkpoint are replaced by tagged dicts of
  tensors and numbers (:mod:`mmscratch.checkpoint.plain_data`). Anything
  else that is not plain data stops the save with an error naming its key,
  instead of writing a file no safe loader can read.
* ``after_load_checkpoint`` on a resume: compares the config text stored in
  the checkpoint with the config of this run and logs where they differ.
  The stored text is only compared, never parsed or executed; the config
  on the command line is the config.

What it changes: only the checkpoint's encoding; loading turns the entries
back (mmscratch's loader, which ``import mmscratch`` installs for MMEngine).
"""
from __future__ import annotations

import difflib
import re
from typing import List

from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ...checkpoint import to_plain_data
from ...checkpoint.loading import UNTRUSTED_CONFIG_TEXT

# Lines a launch sets by itself (tools/train.py, MMEngine): not a difference.
_PER_LAUNCH = re.compile(r'^(work_dir|resume|load_from|launcher|experiment_name)\s*=')


def config_text_differences(stored: str, current: str) -> List[str]:
    """Lines of a unified diff between two config texts, per-launch keys ignored."""
    def lines(text: str) -> List[str]:
        return [line for line in text.splitlines() if not _PER_LAUNCH.match(line)]
    return [line for line in difflib.unified_diff(lines(stored), lines(current), 'checkpoint',
                                                  'this run', n=0, lineterm='')
            if line[:1] in '+-' and not line.startswith(('+++', '---'))]


@HOOKS.register_module()
class PlainDataCheckpointHook(Hook):
    """Encode checkpoints as plain data on save; report config drift on resume."""

    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        encoded = to_plain_data(checkpoint)
        checkpoint.clear()
        checkpoint.update(encoded)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from: fine-tuning or testing with another config is the point
        # moved there by mmscratch's loader from meta['cfg'] / meta['config']
        stored = (checkpoint.get('meta') or {}).get(UNTRUSTED_CONFIG_TEXT)
        cfg = getattr(runner, 'cfg', None)
        if not isinstance(stored, str) or cfg is None:
            return
        differences = config_text_differences(stored, cfg.pretty_text)
        if differences:
            shown = '\n  '.join(differences[:12])
            more = f'\n  ... ({len(differences) - 12} more)' if len(differences) > 12 else ''
            runner.logger.warning(
                'PlainDataCheckpointHook: the checkpoint was trained with a config that '
                f'differs from this run\'s in {len(differences)} line(s); this run uses '
                f'its own config (the stored text is never executed):\n  {shown}{more}')
