from .fp32_islands import install_fp32_islands, to_fp32
from .tta import DetMaskTTAModel

__all__ = ['install_fp32_islands', 'to_fp32', 'DetMaskTTAModel']
