"""The pre-training objectives: MLM loss and accuracy over the masked positions, plus NSP/SOP.

Shapes: B = batch size, T = sequence length, N = masked positions, V = vocabulary size.
Labels follow PyTorch's and transformers' convention: :data:`IGNORE_INDEX` (-100)
marks a position that does not count (not masked, padding, special tokens).
Taught in book/ch2_pretraining/index.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.heads import BertForPreTraining

# The label of a position the loss ignores: F.cross_entropy's default ignore_index, as in transformers.
# (The graded functions spell -100 out: their source is an answer cell, which cannot import it.)
IGNORE_INDEX = -100


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

    Taught in book/ch2_pretraining/index.md.
    """
    labelled = labels != -100  # (B, T)
    if not labelled.any():
        return logits.sum() * 0.0, torch.tensor(float("nan"), device=logits.device)
    scores = logits[labelled]  # (N, V): the N labelled positions only
    targets = labels[labelled]  # (N,)
    loss = F.cross_entropy(scores, targets)
    accuracy = (scores.argmax(dim=-1) == targets).float().mean()
    return loss, accuracy.detach()


def pretraining_loss(model: BertForPreTraining, batch: dict[str, Tensor], objective: str,
                     mlm_loss_fn=None) -> tuple[Tensor, dict[str, float]]:
    """The loss of one masked batch and its metrics.

    The encoder runs on the whole batch; the MLM head only at the N labelled
    positions, so its logits are (N, V) rather than (B, T, V). They go to
    ``mlm_loss_fn`` (default: :func:`mlm_loss_and_accuracy`)
    as a batch of one sequence, (1, N, V) with labels (1, N). With NSP or SOP
    the cross-entropy of the sentence head is added, unweighted, as in BERT.

    Taught in book/ch2_pretraining/pretraining_run.md.
    """
    mlm_loss_fn = mlm_loss_fn or mlm_loss_and_accuracy
    labels = batch["labels"]  # (B, T), IGNORE_INDEX where not masked
    positions = labels != IGNORE_INDEX  # (B, T)
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], mlm_positions=positions)
    mlm_loss, mlm_accuracy = mlm_loss_fn(out.mlm_logits.float()[None], labels[positions][None])  # (1, N, V), (1, N)
    metrics = {"mlm_loss": mlm_loss.detach(), "mlm_accuracy": mlm_accuracy.detach()}
    loss = mlm_loss
    if objective != "mlm":
        sentence_logits = out.nsp_logits.float()  # (B, 2)
        sentence_loss = F.cross_entropy(sentence_logits, batch["next_sentence_label"])
        loss = loss + sentence_loss
        metrics["sentence_loss"] = sentence_loss.detach()
        metrics["sentence_accuracy"] = (sentence_logits.argmax(-1) == batch["next_sentence_label"]).float().mean()
    return loss, metrics
