"""ALBERT: factorised embeddings (V x E + E x H) and one layer shared across the depth.

Lan et al. (2020), "ALBERT: A Lite BERT for Self-supervised Learning of
Language Representations". Two parameter cuts and one new objective: the
token table is V x E with a small E, projected to H; a single BertLayer is
applied num_hidden_layers times; sentence-order prediction (SOP) replaces NSP.

Shape letters: B batch, T sequence, V vocabulary, E embedding size, H hidden size.
"""

from __future__ import annotations

from torch import nn


class FactorizedEmbedding(nn.Module):
    """Token embeddings factorised as a V x E table followed by an E -> H projection.

    Submodules: ``word_embeddings`` (``nn.Embedding(vocab_size, embedding_size)``) and
    ``projection`` (``nn.Linear(embedding_size, hidden_size)``, with bias).
    ``forward(input_ids)`` maps (B, T) integer ids to (B, T, hidden_size):
    ``projection(word_embeddings(input_ids))``. Parameters: V·E + E·H + H instead of V·H.

    Taught in book/ch3_variants/albert.md.
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_size)
        self.projection = nn.Linear(embedding_size, hidden_size)

    def forward(self, input_ids):
        """input_ids (B, T) -> (B, T, H)."""
        return self.projection(self.word_embeddings(input_ids))  # (B, T, E) -> (B, T, H)


class SharedLayerEncoder(nn.Module):
    """One layer applied ``num_layers`` times: ALBERT's cross-layer parameter sharing.

    ``forward(hidden_states, attention_mask=None)`` calls the given ``layer`` as
    ``layer(hidden_states, attention_mask)`` ``num_layers`` times, feeding each
    output into the next call, and returns the last output (the input itself when
    ``num_layers`` is 0). The encoder holds that one layer, not copies: its
    parameters are the layer's parameters (the same tensors, so the count is the
    layer's), and changing the layer's weights changes the encoder.

    Taught in book/ch3_variants/albert.md.
    """

    def __init__(self, layer: nn.Module, num_layers: int):
        super().__init__()
        self.layer = layer
        self.num_layers = num_layers

    def forward(self, hidden_states, attention_mask=None):
        """hidden_states (B, T, H), attention_mask (B, T) or None -> (B, T, H)."""
        for _ in range(self.num_layers):
            hidden_states = self.layer(hidden_states, attention_mask)
        return hidden_states
