"""ELECTRA: a small generator fills masked positions, a discriminator spots the replaced tokens.

Clark et al. (2020), "ELECTRA: Pre-training Text Encoders as Discriminators
Rather Than Generators". The discriminator learns from every position (was
this token replaced?), not only from the ~15% that were masked, which is where
its sample efficiency comes from. Both networks are BERT encoders with
factorised (E-sized) embeddings; the generator is smaller and shares the
discriminator's embeddings.

Shape letters: B batch, T sequence, V vocabulary, E embedding size, H hidden size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def electra_corrupt(
    input_ids, labels, generator_logits, temperature: float = 1.0, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Replace the masked tokens by samples from the generator: ELECTRA's corrupted input.

    Args:
        input_ids: (B, T) integer ids the generator read (``[MASK]`` at the masked positions).
        labels: (B, T) the original id at the masked positions, -100 everywhere else.
        generator_logits: (B, T, V) the generator's logits.
        temperature: > 0; tokens are sampled from ``softmax(generator_logits / temperature)``.
        generator: the ``torch.Generator`` every random number is drawn from (the global one when None).

    Returns:
        ``(corrupted_ids, is_replaced)``, both (B, T). ``corrupted_ids`` (the dtype of
        ``input_ids``) holds, at each position with ``labels != -100``, a token **sampled**
        (not the argmax) from that position's distribution, and ``input_ids`` elsewhere.
        ``is_replaced`` (bool) is True only where the corrupted token differs from the
        original token, which at a masked position is ``labels``: a sample equal to the
        original counts as original. The inputs are not modified; no gradient flows
        through the sample. Any correct way of sampling is accepted.

    Taught in book/ch3_variants/electra.md.
    """
    masked = labels != -100  # (B, T)
    corrupted = input_ids.clone()
    if masked.any():
        probs = torch.softmax(generator_logits.detach()[masked].float() / temperature, dim=-1)  # (N, V)
        sampled = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (N,)
        corrupted[masked] = sampled.to(corrupted.dtype)
    is_replaced = masked & (corrupted != labels)
    return corrupted, is_replaced


def electra_discriminator_loss(disc_logits, is_replaced, attention_mask) -> Tensor:
    """Replaced-token detection: binary cross-entropy with logits over the real tokens.

    Args:
        disc_logits: (B, T) float, one logit per token ("this token was replaced").
        is_replaced: (B, T) bool targets.
        attention_mask: (B, T), 1/True for a real token, 0/False for padding.

    Returns:
        A scalar tensor (dtype of ``disc_logits``): the binary cross-entropy with logits,
        averaged over the real (non-padding) tokens only; it back-propagates into
        ``disc_logits``. Callers pass at least one real token.

    Taught in book/ch3_variants/electra.md.
    """
    real = attention_mask.bool()  # (B, T)
    targets = is_replaced[real].to(disc_logits.dtype)  # (N,)
    return F.binary_cross_entropy_with_logits(disc_logits[real], targets)
