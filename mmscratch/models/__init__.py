from .classifier import BackboneClassifier
from .fp32_islands import install_fp32_islands, to_fp32

__all__ = ['BackboneClassifier', 'install_fp32_islands', 'to_fp32']
