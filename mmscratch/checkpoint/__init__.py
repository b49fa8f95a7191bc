"""Checkpoints as data: written without numpy or pickled objects, read without
executing or constructing anything the file asks for (docs/security.md)."""
from .loading import (CheckpointRefused, convert_checkpoint, install_mmengine_loaders,
                      load_checkpoint_file, older_checkpoints_readable,
                      prepare_loaded_checkpoint)
from .plain_data import CheckpointDataError, from_plain_data, to_plain_data

__all__ = [
    'CheckpointDataError', 'CheckpointRefused', 'convert_checkpoint', 'from_plain_data', 'install_mmengine_loaders',
    'load_checkpoint_file', 'older_checkpoints_readable', 'prepare_loaded_checkpoint',
    'to_plain_data'
]
