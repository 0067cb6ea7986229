"""The masked-language-modelling objective: loss and accuracy over the masked positions only.

Shapes: B = batch size, T = sequence length, V = vocabulary size. Labels
follow PyTorch's and transformers' convention: -100 marks a position that
does not count (not masked, padding, special tokens).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

def mlm_loss_and_accuracy(logits, labels) -> tuple[Tensor, Tensor]:
    """The mean cross-entropy and the accuracy of the MLM predictions at the labelled positions.

    Args:
        logits: (B, T, V) unnormalised scores over the vocabulary.
        labels: (B, T) integer ids, -100 at the positions to ignore.

    Returns:
        ``(loss, accuracy)``, two scalar (0-dimensional) tensors. ``loss`` is the cross-entropy
        averaged over the labelled positions only (an unlabelled position or padding adds nothing,
        however many there are), with ``logits``' dtype and differentiable with respect to
        ``logits``. ``accuracy`` is the fraction of labelled positions whose highest logit is the
        label (a float tensor, no gradient needed). When no position is labelled, ``loss`` is 0
        and still back-propagates (zero gradients) and ``accuracy`` is NaN.
    """
    labelled = labels != -100  # (B, T)
    if not labelled.any():
        return logits.sum() * 0.0, torch.tensor(float("nan"), device=logits.device)
    scores = logits[labelled]  # (N, V): the N labelled positions only
    targets = labels[labelled]  # (N,)
    loss = F.cross_entropy(scores, targets)
    accuracy = (scores.argmax(dim=-1) == targets).float().mean()
    return loss, accuracy.detach()
