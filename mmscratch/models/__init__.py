from .classifier import BackboneClassifier
from .fp32_islands import install_fp32_islands, to_fp32
from .tta import DetMaskTTAModel

__all__ = ['BackboneClassifier', 'DetMaskTTAModel', 'install_fp32_islands', 'to_fp32']
