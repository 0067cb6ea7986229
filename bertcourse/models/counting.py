"""BERT's parameter count in closed form, from the config's numbers alone."""

from __future__ import annotations


def bert_parameter_count(
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    intermediate_size: int,
    max_position_embeddings: int = 512,
    type_vocab_size: int = 2,
    with_pooler: bool = True,
) -> int:
    """The number of parameters of ``transformers.BertModel`` for this config, in closed form.

    Counts every weight and bias: the word, position and token-type embedding
    tables (each ``* x hidden_size``) and the embedding LayerNorm; per layer the
    query, key, value and attention-output projections, the two feed-forward
    projections (H -> I -> H) and two LayerNorms (weight and bias each); and the
    pooler (one H x H dense layer with bias) when ``with_pooler`` is True.
    Returns a Python ``int``; ``num_layers`` may be 0. For BERT-base uncased
    (30522, 768, 12, 3072) it is 109,482,240.

    Taught in book/ch3_variants/comparison.md.
    """
    H, I = hidden_size, intermediate_size
    layer_norm = 2 * H  # weight and bias
    embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * H + layer_norm
    attention = 4 * (H * H + H) + layer_norm  # Q, K, V, output, then the LayerNorm after the residual
    feed_forward = (H * I + I) + (I * H + H) + layer_norm
    pooler = H * H + H if with_pooler else 0
    return int(embeddings + num_layers * (attention + feed_forward) + pooler)
