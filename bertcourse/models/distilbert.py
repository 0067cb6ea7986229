"""DistilBERT: half of BERT's layers, no token types, no pooler, taught by the full model.

Sanh et al. (2019), "DistilBERT, a distilled version of BERT: smaller, faster,
cheaper and lighter". The student starts from every other layer of its
teacher and learns from the teacher's softened output distribution
(Hinton et al., 2015) plus a cosine term that aligns the hidden states.

Shape letters: B batch, T sequence, C classes (the vocabulary for MLM), H hidden size.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def distillation_loss(student_logits, teacher_logits, labels, temperature: float = 2.0,
                      alpha: float = 0.5) -> Tensor:
    """Knowledge distillation: soft targets at a temperature plus the hard-label cross-entropy.

    Args:
        student_logits: (N, C) or (B, T, C); every row is one distribution over C classes.
        teacher_logits: the same shape; a fixed target (no gradient is needed through it).
        labels: (N,) or (B, T) class ids; -100 marks a row left out of **both** terms.
        temperature: T > 0, the softening of both distributions in the soft term.
        alpha: the weight of the soft term; ``1 - alpha`` weighs the hard term.

    Returns:
        A scalar tensor: ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))``,
        the KL divergence summed over the classes and averaged over the kept rows, plus
        ``(1 - alpha) * CE(student_logits, labels)`` at temperature 1, averaged over the
        kept rows. The T² keeps the soft term's gradients the size of the hard term's as T
        grows. What is checked is the value and its gradient with respect to
        ``student_logits``. Callers pass at least one labelled row.

    Taught in book/ch3_variants/distilbert.md.
    """
    classes = student_logits.size(-1)
    student = student_logits.reshape(-1, classes)  # (N, C)
    teacher = teacher_logits.detach().reshape(-1, classes)  # (N, C): a target, not a path for gradients
    labels = labels.reshape(-1)  # (N,)
    kept = labels != -100
    student, teacher, labels = student[kept], teacher[kept], labels[kept]
    T = temperature
    soft = F.kl_div(F.log_softmax(student / T, dim=-1), F.log_softmax(teacher / T, dim=-1),
                    reduction="batchmean", log_target=True)  # KL(teacher || student), mean over rows
    hard = F.cross_entropy(student, labels)
    return alpha * T**2 * soft + (1 - alpha) * hard
