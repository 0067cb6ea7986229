"""DeBERTa: attention that adds content-to-position and position-to-content terms over relative distances.

He et al. (2021), "DeBERTa: Decoding-enhanced BERT with Disentangled Attention";
the v2/v3 form as in ``transformers.DebertaV2Model``.

Shape letters: B batch, T sequence, H hidden size, nh heads, hd head size, k max distance.
"""

from __future__ import annotations

import torch


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
