"""``BackboneClassifier``: a detector's backbone trained as an image classifier.

The mini paper's stand-in for ImageNet pre-training: the demo detector's
backbone (exactly its config: ResNet-18 at 1/4 width, GN) with global average
pooling and one linear layer, trained with cross-entropy on the generated
classification set (:mod:`mmscratch.datasets.pretrain_set`) by MMEngine's
runner. The backbone keeps MMDetection's module names, so its weights load
into the detector as they are (``BackboneExportHook`` writes them).

Not mmpretrain: mmpretrain 1.2.0 installs on this stack but ``import
mmpretrain.models`` needs torchvision, which the project does not pin
(docs/mini_paper.md); what it would give here is these few lines.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmdet.registry import MODELS


def _labels(data_samples: Sequence, device) -> torch.Tensor:
    if data_samples is None:
        raise ValueError('BackboneClassifier needs labels (data_samples) in loss/predict mode')
    return torch.as_tensor([int(s) for s in data_samples], dtype=torch.long, device=device)


@MODELS.register_module()
class BackboneClassifier(BaseModel):
    """Backbone + global average pooling + linear classifier.

    Args:
        backbone: config of the backbone (any MMDetection backbone returning
            a tuple of feature maps; the last one is pooled).
        num_classes: classes of the classification set.
        in_channels: channels of the pooled feature map; default: the
            backbone's ``feat_dim`` (MMDetection's ResNet has it).
        label_smoothing: of the cross-entropy loss.
        data_preprocessor: MMEngine's ``ImgDataPreprocessor`` config (mean,
            std, ``bgr_to_rgb``): use the detector's, so the backbone sees
            inputs normalized as it will when fine-tuned.
    """

    def __init__(self, backbone: dict, num_classes: int, in_channels: Optional[int] = None,
                 label_smoothing: float = 0.0, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if int(num_classes) < 2:
            raise ValueError(f'num_classes must be >= 2, got {num_classes}')
        self.backbone = MODELS.build(backbone)
        in_channels = in_channels or getattr(self.backbone, 'feat_dim', None)
        if not in_channels:
            raise ValueError('in_channels is needed: the backbone has no feat_dim')
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self.head = nn.Linear(int(in_channels), self.num_classes)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        features = self.backbone(inputs)
        last = features[-1] if isinstance(features, (tuple, list)) else features
        # the head's output in fp32: the loss under bf16 autocast stays fp32
        return self.head(last.mean(dim=(2, 3))).float()

    def forward(self, inputs: torch.Tensor, data_samples: Optional[Sequence] = None,
                mode: str = 'tensor'):
        logits = self.logits(inputs)
        if mode == 'tensor':
            return logits
        labels = _labels(data_samples, logits.device)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f'a label is outside [0, {self.num_classes}): the dataset has '
                             'more classes than the model\'s num_classes')
        if mode == 'loss':
            loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
            accuracy = (logits.argmax(dim=1) == labels).float().mean()
            return dict(loss_cls=loss, acc=accuracy.detach())
        if mode == 'predict':
            scores = logits.softmax(dim=1)
            return [dict(pred_score=score, gt_label=int(label))
                    for score, label in zip(scores, labels)]
        raise ValueError(f'unknown mode {mode!r} (tensor, loss or predict)')
