"""DeBERTa: attention that adds content-to-position and position-to-content terms over relative distances.

He et al. (2021), "DeBERTa: Decoding-enhanced BERT with Disentangled Attention";
the v2/v3 form as in ``transformers.DebertaV2Model``.

Shape letters: B batch, T sequence, H hidden size, nh heads, hd head size, k max distance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bert import BertConfig, BertEmbeddings, BertLayer, BertPooler, BertSelfAttention, check_inputs, init_weights
from .convert import _TRANSFORMERS_NAMES as BERT_NAMES
from .heads import BertMLMHead, BertNSPHead, PreTrainingOutput
from .renaming import load_renamed


def relative_positions(query_len: int, key_len: int, max_distance: int) -> torch.LongTensor:
    """The clipped relative distance of every key to every query, shifted to be an index.

    Returns a ``torch.long`` tensor of shape ``(query_len, key_len)`` whose entry ``[i, j]``
    is ``clip(j - i, -max_distance, max_distance) + max_distance``: 0 for a key at least
    ``max_distance`` to the left of the query, ``max_distance`` on the diagonal,
    ``2 * max_distance`` for a key at least ``max_distance`` to the right; so
    ``max_distance = 0`` gives all zeros. ``query_len`` and ``key_len`` may differ.

    Taught in book/ch3_variants/deberta.md.
    """
    query = torch.arange(query_len)[:, None]  # (Tq, 1)
    key = torch.arange(key_len)[None, :]  # (1, Tk)
    return (key - query).clamp(-max_distance, max_distance) + max_distance  # (Tq, Tk)


def log_bucket(distance: Tensor, buckets: int, max_position: int) -> Tensor:
    """DeBERTa-v3's bucketing of signed distances: exact within ±buckets/2, logarithmic beyond, up to max_position."""
    sign = torch.sign(distance)
    mid = buckets // 2
    near = (distance < mid) & (distance > -mid)
    magnitude = torch.where(near, torch.tensor(mid - 1).type_as(distance), distance.abs())
    log_position = torch.ceil(torch.log(magnitude / mid) / math.log((max_position - 1) / mid) * (mid - 1)) + mid
    return torch.where(magnitude <= mid, distance.to(log_position.dtype), log_position * sign).long()


def attention_span(config: DebertaConfig) -> int:
    """k: the relative distances one layer tells apart in each direction (its table holds 2k rows)."""
    if config.position_buckets > 0:
        return config.position_buckets
    return config.max_relative_positions if config.max_relative_positions > 0 else config.max_position_embeddings


def relative_index(seq_len: int, config: DebertaConfig) -> Tensor:
    """(T, T): the row of the relative-embedding table that query i uses for key j.

    transformers counts the distance as i - j (query minus key), the opposite sign of
    :func:`relative_positions`, and clips the index to [0, 2k - 1].
    """
    span = attention_span(config)
    if config.position_buckets <= 0:
        return (2 * span - relative_positions(seq_len, seq_len, span)).clamp(max=2 * span - 1)
    distance = seq_len - relative_positions(seq_len, seq_len, seq_len)  # i - j, unclipped
    max_position = config.max_relative_positions if config.max_relative_positions > 0 \
        else config.max_position_embeddings
    return (log_bucket(distance, config.position_buckets, max_position) + span).clamp(0, 2 * span - 1)


@dataclass(frozen=True)
class DebertaConfig(BertConfig):
    """BERT's fields plus DeBERTa-v3's position settings; defaults of deberta-v3-base.

    No absolute positions enter the input (``position_biased_input=False``), no token
    types (``type_vocab_size=0``); attention adds content-to-position and
    position-to-content terms, with the relative-position keys and queries made by the
    content projections (``share_att_key=True``) from a LayerNorm'ed table.
    """

    vocab_size: int = 128100
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-7
    position_buckets: int = 256  # <= 0: no bucketing, one row per distance up to max_relative_positions
    max_relative_positions: int = -1  # <= 0: max_position_embeddings

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")

    def to_transformers(self):
        """A ``transformers.DebertaV2Config`` with the same hyper-parameters (the v3 attention settings)."""
        from transformers import DebertaV2Config

        return DebertaV2Config(**asdict(self), hidden_act="gelu", relative_attention=True,
                               pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True,
                               position_biased_input=False)


class DebertaEmbeddings(BertEmbeddings):
    """Word embeddings only, LayerNorm, padding zeroed, dropout: positions enter in attention instead."""

    def __init__(self, config: DebertaConfig):
        super().__init__(replace(config, type_vocab_size=1))
        del self.token_type_embeddings, self.position_embeddings

    def forward(self, input_ids, attention_mask):
        """input_ids, attention_mask (B, T) -> (B, T, H), zero at padding."""
        embeddings = self.norm(self.word_embeddings(input_ids)) * attention_mask[..., None].to(self.norm.weight.dtype)
        return self.dropout(embeddings)


class DisentangledSelfAttention(BertSelfAttention):
    """BERT's query, key, value and output projections; the scores gain two relative-position terms.

    score(i, j) = [q_i·k_j + q_i·k^r_{δ(i,j)} + k_j·q^r_{δ(i,j)}] / sqrt(3 hd), where q^r and k^r are
    the query and key projections of the relative-position table's row δ(i, j).
    """

    def terms(self, hidden_states, relative_embeddings, index) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The three (B, nh, T, T) score terms, unscaled, and the values (B, nh, T, hd).

        content-to-content q_i·k_j, content-to-position q_i·k^r_{index[i, j]} and
        position-to-content k_j·q^r_{index[i, j]}.
        """
        batch, seq, hidden = hidden_states.shape
        head_size = hidden // self.num_heads

        def split_heads(x):  # (..., L, H) -> (..., nh, L, hd)
            return x.view(*x.shape[:-1], self.num_heads, head_size).transpose(-3, -2)

        query = split_heads(self.query(hidden_states))  # (B, nh, T, hd)
        key = split_heads(self.key(hidden_states))
        value = split_heads(self.value(hidden_states))
        position_query = split_heads(self.query(relative_embeddings))  # (nh, 2k, hd)
        position_key = split_heads(self.key(relative_embeddings))
        index = index.expand(batch, self.num_heads, seq, seq)  # (B, nh, T, T)
        content_to_position = torch.gather(query @ position_key.transpose(-1, -2), -1, index)
        position_to_content = torch.gather(key @ position_query.transpose(-1, -2), -1,
                                           index.transpose(-1, -2)).transpose(-1, -2)
        return query @ key.transpose(-1, -2), content_to_position, position_to_content, value

    def forward(self, hidden_states, attention_mask, relative_embeddings, index):
        """hidden_states (B, T, H); attention_mask (B, T); relative_embeddings (2k, H); index (T, T) -> (B, T, H)."""
        batch, seq, hidden = hidden_states.shape
        content, content_to_position, position_to_content, value = self.terms(hidden_states, relative_embeddings, index)
        scale = math.sqrt(hidden // self.num_heads * 3)  # three terms, each ~ hd in variance
        scores = (content + content_to_position + position_to_content) / scale
        real = attention_mask.bool()
        pairs = real[:, None, :, None] & real[:, None, None, :]  # (B, 1, T, T): padding neither asks nor answers
        weights = self.dropout(scores.masked_fill(~pairs, torch.finfo(scores.dtype).min).softmax(-1))
        context = (weights @ value).transpose(1, 2).reshape(batch, seq, hidden)  # (B, T, H)
        return self.output(context)


class DebertaLayer(BertLayer):
    """BertLayer with disentangled attention; the residuals, LayerNorms and FFN are BERT's."""

    def __init__(self, config: DebertaConfig):
        super().__init__(config)
        self.attention = DisentangledSelfAttention(config)

    def forward(self, hidden_states, attention_mask, relative_embeddings, index):
        """(B, T, H) -> (B, T, H)."""
        attended = self.attention(hidden_states, attention_mask, relative_embeddings, index)
        hidden_states = self.attention_norm(hidden_states + self.dropout(attended))
        feed_forward = self.output(F.gelu(self.intermediate(hidden_states)))
        return self.output_norm(hidden_states + self.dropout(feed_forward))


class DebertaOutput(NamedTuple):
    last_hidden_state: Tensor  # (B, T, H)
    hidden_states: tuple[Tensor, ...]  # num_hidden_layers + 1 tensors of (B, T, H)


class DebertaModel(nn.Module):
    """``transformers.DebertaV2Model`` with v3's settings. Taught in book/ch3_variants/deberta.md."""

    def __init__(self, config: DebertaConfig):
        super().__init__()
        self.config = config
        self.embeddings = DebertaEmbeddings(config)
        self.layers = nn.ModuleList(DebertaLayer(config) for _ in range(config.num_hidden_layers))
        self.relative_embeddings = nn.Embedding(2 * attention_span(config), config.hidden_size)  # shared by all layers
        self.relative_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.apply(lambda module: init_weights(module, config.initializer_range))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> DebertaOutput:
        """input_ids and attention_mask (1 = token, 0 = padding), both (B, T)."""
        check_inputs(self.config, input_ids, attention_mask)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        relative = self.relative_norm(self.relative_embeddings.weight)  # (2k, H)
        index = relative_index(input_ids.size(1), self.config).to(input_ids.device)  # (T, T)
        states = [self.embeddings(input_ids, attention_mask)]
        for layer in self.layers:
            states.append(layer(states[-1], attention_mask, relative, index))
        return DebertaOutput(states[-1], tuple(states))


class DebertaForPreTraining(nn.Module):
    """:class:`~bertcourse.models.heads.BertForPreTraining`'s two heads on DeBERTa's encoder.

    The same interface and output, so a pre-training run swaps BERT's learned absolute
    positions for relative ones and nothing else (``bertcourse.pretraining.run``'s
    ``positions="relative"``): the masked-LM head tied to the word embeddings, and a pooler
    (tanh over the first token, as BERT's) under the sentence head. ``token_type_ids`` is
    accepted and ignored: DeBERTa-v3 has no token types. Not DeBERTa's own pre-training
    model (no enhanced mask decoder, no replaced-token detection).
    Taught in book/ch4_training/recipe.md.
    """

    def __init__(self, config: DebertaConfig):
        super().__init__()
        self.config = config
        self.deberta = DebertaModel(config)
        self.pooler = BertPooler(config)
        self.mlm_head = BertMLMHead(config, self.deberta.embeddings.word_embeddings)
        self.nsp_head = BertNSPHead(config)
        for module in (self.pooler, self.mlm_head.dense, self.mlm_head.norm, self.nsp_head):
            module.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None,
                mlm_positions: Tensor | None = None) -> PreTrainingOutput:
        """As :meth:`BertForPreTraining.forward`: MLM logits (B, T, V), or (N, V) at ``mlm_positions``; NSP (B, 2)."""
        encoded = self.deberta(input_ids, attention_mask)
        sequence = encoded.last_hidden_state  # (B, T, H)
        if mlm_positions is not None:
            sequence = sequence[mlm_positions]  # (N, H)
        return PreTrainingOutput(self.mlm_head(sequence), self.nsp_head(self.pooler(encoded.last_hidden_state)), encoded)


TRANSFORMERS_NAMES = [
    (r"^deberta\.", ""),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)_proj\.", r"encoder.layer.\1.attention.self.\2."),
    *BERT_NAMES,
    (r"^encoder\.layers\.", "layers."),
    (r"^encoder\.rel_embeddings\.", "relative_embeddings."),
    (r"^encoder\.LayerNorm\.", "relative_norm."),
]


def load_transformers_weights(model: DebertaModel, state_dict: dict[str, Tensor]) -> DebertaModel:
    """Copy a ``transformers.DebertaV2Model`` state dict (v3 settings) into ``model``."""
    return load_renamed(model, state_dict, TRANSFORMERS_NAMES)
