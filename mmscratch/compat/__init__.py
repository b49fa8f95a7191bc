from .safe_checkpoint import mmengine_checkpoint_safe_globals, register_safe_globals

__all__ = ['mmengine_checkpoint_safe_globals', 'register_safe_globals']
