from .classifier import BackboneClassifier
from .fp32_islands import install_fp32_islands, to_fp32
from .first_k_nms import FirstKNMSRPNHead, batched_nms_first_k, nms_first_k, use_first_k_nms
from .separable_roi_align import SeparableRoIAlign, separable_roi_align, use_separable_roi_align
from .tta import DetMaskTTAModel

__all__ = ['BackboneClassifier', 'DetMaskTTAModel', 'install_fp32_islands', 'to_fp32',
           'SeparableRoIAlign', 'separable_roi_align', 'use_separable_roi_align',
           'FirstKNMSRPNHead', 'batched_nms_first_k', 'nms_first_k', 'use_first_k_nms']
