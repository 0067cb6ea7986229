"""Diagrams of BERT drawn from a model's configuration, so that every number on them stays true.

The book's pictures of the architecture and of the pre-training data: the encoder block,
the three embeddings summed, Q/K/V split into heads, post-LN against pre-LN, how NSP and
SOP pairs are built, and the padding mask as an image. Each function draws into matplotlib
and returns the ``Figure`` (or ``Axes``); none shows or prints. Taught in
book/ch1_architecture (tokenization, attention, layer) and book/ch2_pretraining/sentence_pairs.md.

Shape letters as in :mod:`bertcourse.viz`: B batch, T sequence length, H hidden size,
nh heads, hd head size, I intermediate size, L layers, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Fill colours of the boxes, by role (colour-blind safe, light enough for black text).
COLOURS = {
    "embedding": "#cfe2f3", "attention": "#f9cb9c", "norm": "#d9d2e9", "ffn": "#b6d7a8",
    "head": "#ffe599", "residual": "#666666", "token": "#cfe2f3", "segment": "#f4cccc",
    "position": "#d9ead3", "query": "#f9cb9c", "key": "#cfe2f3", "value": "#b6d7a8",
}


def _figure(figsize):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, width, height, text, role, fontsize=9, **kwargs):
    """A rounded box centred at (x, y) with centred text."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=COLOURS.get(role, role),
                                edgecolor="#444444", linewidth=1.0, **kwargs))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, colour="#333333", style="-|>", **kwargs):
    ax.annotate("", end, start, arrowprops=dict(arrowstyle=style, color=colour, lw=1.3, shrinkA=0, shrinkB=0,
                                                **kwargs))


def draw_encoder_block(config, title: str | None = None):
    """BERT from input ids to the pre-training heads, every size read from ``config``.

    Embeddings, then the block repeated ``num_hidden_layers`` times (self-attention, add &
    LayerNorm, feed-forward, add & LayerNorm, each residual drawn as a bypass), then the pooler
    on ``[CLS]`` and the two heads. Returns the Figure.
    """
    H, I, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    nh, V, P, S = config.num_attention_heads, config.vocab_size, config.max_position_embeddings, config.type_vocab_size
    fig, ax = _figure((7.2, 9.0))
    width = 4.6
    rows = {  # y positions, bottom to top
        "inputs": 0.0, "embeddings": 1.2, "attention": 3.0, "norm1": 4.1, "ffn": 5.3, "norm2": 6.4,
        "pooler": 8.2, "heads": 9.5,
    }
    ax.text(0, rows["inputs"], "input ids, segment ids, positions   (B, T)", ha="center", va="center", fontsize=9)
    _box(ax, 0, rows["embeddings"], width, 0.75,
         f"embeddings: token ({V:,} x {H}) + segment ({S} x {H})\n+ position ({P} x {H}), LayerNorm, dropout",
         "embedding")
    _box(ax, 0, rows["attention"], width, 0.75,
         f"multi-head self-attention\n{nh} heads of {config.head_size}  (Q, K, V, O: {H} x {H})", "attention")
    _box(ax, 0, rows["norm1"], width, 0.5, "add & LayerNorm", "norm")
    _box(ax, 0, rows["ffn"], width, 0.75, f"feed-forward: {H} -> {I} (GELU) -> {H}", "ffn")
    _box(ax, 0, rows["norm2"], width, 0.5, "add & LayerNorm", "norm")
    _box(ax, -1.25, rows["pooler"], 2.1, 0.75, f"pooler on [CLS]\ntanh({H} x {H})", "head")
    _box(ax, 1.25, rows["heads"], 2.1, 0.75, f"MLM head\n{H} -> {V:,} (tied)", "head")
    _box(ax, -1.25, rows["heads"], 2.1, 0.75, "NSP head\n2 classes", "head")
    for low, high in (("inputs", "embeddings"), ("embeddings", "attention"), ("attention", "norm1"),
                      ("norm1", "ffn"), ("ffn", "norm2")):
        gap_low = 0.15 if low == "inputs" else (0.375 if low in ("embeddings", "attention", "ffn") else 0.25)
        gap_high = 0.375 if high in ("embeddings", "attention", "ffn") else 0.25
        _arrow(ax, (0, rows[low] + gap_low), (0, rows[high] - gap_high))
    # The residual bypasses: from below each sub-layer to its add & LayerNorm.
    for start, end in ((rows["embeddings"] + 0.6, rows["norm1"]), (rows["norm1"] + 0.45, rows["norm2"])):
        ax.plot([width / 2 + 0.15, width / 2 + 0.45, width / 2 + 0.45], [start, start, end], color=COLOURS["residual"],
                lw=1.2)
        _arrow(ax, (width / 2 + 0.45, end), (width / 2 + 0.02, end), colour=COLOURS["residual"])
        ax.plot([0, width / 2 + 0.15], [start, start], color=COLOURS["residual"], lw=1.2, linestyle=":")
    ax.text(width / 2 + 0.55, (rows["attention"] + rows["norm1"]) / 2 - 0.3, "residual", rotation=90, fontsize=8,
            color=COLOURS["residual"], va="center")
    # The repeated block.
    from matplotlib.patches import Rectangle

    bottom, top = rows["attention"] - 0.75, rows["norm2"] + 0.55
    ax.add_patch(Rectangle((-width / 2 - 0.35, bottom), width + 1.25, top - bottom, fill=False, linestyle="--",
                           edgecolor="#888888"))
    ax.text(-width / 2 - 0.5, (bottom + top) / 2, f"x {L} layers", rotation=90, ha="center", va="center",
            fontsize=11, fontweight="bold")
    ax.text(width / 2 + 1.0, top - 0.05, "(B, T, H)", fontsize=8, ha="right", va="top", color="#444444")
    # To the heads: [CLS] to the pooler, every position to the MLM head.
    _arrow(ax, (-0.8, top), (-1.25, rows["pooler"] - 0.375))
    _arrow(ax, (-1.25, rows["pooler"] + 0.375), (-1.25, rows["heads"] - 0.375))
    _arrow(ax, (0.8, top), (1.25, rows["heads"] - 0.375))
    ax.text(-1.15, (top + rows["pooler"]) / 2 - 0.1, "[CLS]", fontsize=8, ha="right")
    ax.text(1.2, (top + rows["heads"]) / 2, "every (masked) position", fontsize=8, ha="left")
    ax.set_xlim(-width / 2 - 0.9, width / 2 + 1.1)
    ax.set_ylim(-0.5, rows["heads"] + 0.6)
    ax.set_title(title or f"BERT with L = {L}, H = {H}, {nh} heads, I = {I}")
    return fig


def draw_embedding_sum(tokens: Sequence[str], segments: Sequence[int], config, title: str | None = None):
    """The input vectors as three lookups summed, one column per token.

    Args:
        tokens: the T framed tokens (``[CLS] ... [SEP]``).
        segments: their T segment ids.
        config: gives the tables' sizes printed on the rows.

    Returns:
        The Figure.
    """
    if len(tokens) != len(segments):
        raise ValueError(f"tokens and segments must have the same length; got {len(tokens)} and {len(segments)}")
    T, H = len(tokens), config.hidden_size
    fig, ax = _figure((max(7.0, 0.95 * T + 2.6), 4.4))
    rows = [("token", lambda t: f"E[{tokens[t]}]", f"token\n{config.vocab_size:,} x {H}"),
            ("segment", lambda t: f"E$_{{{'AB'[segments[t]] if segments[t] < 2 else segments[t]}}}$",
             f"segment\n{config.type_vocab_size} x {H}"),
            ("position", lambda t: f"E$_{{{t}}}$", f"position\n{config.max_position_embeddings} x {H}")]
    for t, token in enumerate(tokens):
        ax.text(t, 4.1, token, ha="center", va="center", fontsize=9, fontweight="bold")
        for r, (role, label, _) in enumerate(rows):
            y = 3.2 - 1.05 * r
            _box(ax, t, y, 0.86, 0.6, label(t), role, fontsize=7)
            if r:
                ax.text(t, y + 0.52, "+", ha="center", va="center", fontsize=10)
        ax.text(t, 0.55, "=", ha="center", va="center", fontsize=10)
        _box(ax, t, 0.0, 0.86, 0.6, f"$x_{{{t}}}$", "#eeeeee", fontsize=9)
    for r, (_, _, name) in enumerate(rows):
        ax.text(-0.7, 3.2 - 1.05 * r, name, ha="right", va="center", fontsize=8)
    ax.text(-0.7, 0.0, f"sum, then\nLayerNorm\n(T x {H})", ha="right", va="center", fontsize=8)
    ax.set_xlim(-2.2, T - 0.4)
    ax.set_ylim(-0.5, 4.4)
    ax.set_title(title or f"Each input vector is the sum of three rows of width H = {H}")
    return fig


def draw_attention_heads_split(config, seq_len: int = 6, title: str | None = None):
    """How X (T, H) becomes Q, K and V, each cut into ``num_attention_heads`` slices of ``head_size``.

    Returns the Figure: X on the left, the three projections, each drawn as nh coloured
    column slices with the shape (B, nh, T, hd) written under them, and one head's
    attention on the right.
    """
    from matplotlib.patches import Rectangle

    H, nh, hd, T = config.hidden_size, config.num_attention_heads, config.head_size, seq_len
    fig, ax = _figure((11.0, 4.2))
    cell = 2.4 / max(H, 1)  # width of one feature; the whole H spans 2.4 units
    height = 0.85  # T rows, drawn at a fixed height

    def matrix(x0, y0, role, sliced):
        for h in range(nh if sliced else 1):
            width = hd * cell if sliced else H * cell
            shade = 0.55 + 0.45 * (h % 2) if sliced else 1.0
            ax.add_patch(Rectangle((x0 + h * width, y0), width, height, facecolor=COLOURS[role], alpha=shade,
                                   edgecolor="#444444", lw=0.6))

    matrix(0.0, 1.1, "embedding", sliced=False)
    ax.text(1.2, 1.1 + height + 0.15, f"X: (B, T, H) = (B, {T}, {H})", ha="center", fontsize=9)
    for i, (role, name) in enumerate((("query", "Q = X W$^Q$"), ("key", "K = X W$^K$"), ("value", "V = X W$^V$"))):
        y0 = 3.0 - 1.5 * i
        matrix(3.6, y0, role, sliced=True)
        ax.text(4.8, y0 + height + 0.1, f"{name}   ({H} x {H})", ha="center", fontsize=9)
        _arrow(ax, (2.45, 1.1 + height / 2), (3.55, y0 + height / 2))
    ax.text(4.8, -0.2, f"each: view as (B, T, nh, hd), transpose -> (B, nh, T, hd) = (B, {nh}, {T}, {hd})",
            ha="center", fontsize=9)
    ax.text(4.8, -0.55, f"{nh} slices (heads) of {hd} features: {nh} x {hd} = {H} = H", ha="center", fontsize=9,
            color="#444444")
    # One head: softmax(q k^T / sqrt(hd)) v.
    _box(ax, 8.7, 1.6, 2.9, 1.4, f"head j (one of {nh}):\nsoftmax(Q$_j$ K$_j^T$ / $\\sqrt{{{hd}}}$) V$_j$\n"
         f"({T} x {T}) weights -> ({T} x {hd})", "attention", fontsize=9)
    _arrow(ax, (6.05, 1.6), (7.2, 1.6))
    ax.text(8.7, 0.45, f"concatenate {nh} heads -> (B, T, {H}),\nthen W$^O$ ({H} x {H})", ha="center",
            fontsize=9)
    ax.set_xlim(-0.2, 10.4)
    ax.set_ylim(-0.8, 3.35 + height)
    ax.set_title(title or f"Multi-head attention with H = {H}, {nh} heads of hd = {hd}")
    return fig


def draw_post_ln_vs_pre_ln(title: str | None = None):
    """Post-LN (BERT, the original Transformer) beside pre-LN (GPT-2, most later models): where the norm sits.

    Returns the Figure with two panels; the residual path is drawn in grey.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 5.2), layout="constrained")
    layouts = {
        "post-LN (BERT)": [("x", None), ("sub-layer", "attention"), ("dropout, add x", None),
                           ("LayerNorm", "norm"), ("output", None)],
        "pre-LN": [("x", None), ("LayerNorm", "norm"), ("sub-layer", "attention"), ("dropout, add x", None),
                   ("output", None)],
    }
    formulas = {"post-LN (BERT)": "x <- LayerNorm(x + Dropout(Sublayer(x)))",
                "pre-LN": "x <- x + Dropout(Sublayer(LayerNorm(x)))"}
    for ax, (name, steps) in zip(axes, layouts.items()):
        ax.axis("off")
        ys = np.linspace(0, 4.4, len(steps))
        for (label, role), y in zip(steps, ys):
            if role is None:
                ax.text(0, y, label, ha="center", va="center", fontsize=10,
                        fontweight="bold" if label in ("x", "output") else None)
            else:
                _box(ax, 0, y, 2.0, 0.55, label, role, fontsize=10)
        for low, high in zip(ys[:-1], ys[1:]):
            _arrow(ax, (0, low + 0.3), (0, high - 0.3))
        add = ys[[label for label, _ in steps].index("dropout, add x")]
        ax.plot([0.15, 1.5, 1.5], [ys[0], ys[0], add], color=COLOURS["residual"], lw=1.3)
        _arrow(ax, (1.5, add), (0.75, add), colour=COLOURS["residual"])
        ax.text(1.6, (ys[0] + add) / 2, "residual", rotation=90, va="center", fontsize=9, color=COLOURS["residual"])
        ax.text(0, -0.75, formulas[name], ha="center", fontsize=9, family="monospace")
        ax.set_title(name)
        ax.set_xlim(-1.8, 2.0)
        ax.set_ylim(-1.0, 4.8)
    axes[0].text(0, -1.05, "the residual stream is normalised after every sub-layer", ha="center", fontsize=8,
                 color="#444444")
    axes[1].text(0, -1.05, "the residual stream is never normalised inside the stack", ha="center", fontsize=8,
                 color="#444444")
    if title:
        fig.suptitle(title)
    return fig


def draw_sentence_pairs(title: str | None = None):
    """How NSP and SOP build a pair from documents, with the label convention of BERT's code.

    Two documents of sentences; NSP takes A and either the sentence after it (label 0,
    IsNext) or a sentence of another document (label 1, NotNext); SOP takes two consecutive
    sentences of one document, in order (label 0) or swapped (label 1). Returns the Figure.
    """
    fig, ax = _figure((10.5, 4.6))
    documents = {"document 1": ("#cfe2f3", 4), "document 2": ("#f4cccc", 3)}
    for d, (name, (colour, n)) in enumerate(documents.items()):
        y = 3.7 - 1.0 * d
        ax.text(-0.2, y, name, ha="right", va="center", fontsize=9)
        for s in range(n):
            _box(ax, 0.55 + 1.05 * s, y, 0.95, 0.55, f"s{d + 1}.{s + 1}", colour, fontsize=9)
    pairs = [
        ("NSP, 50%: the next sentence", [("s1.2", "#cfe2f3"), ("s1.3", "#cfe2f3")], "label 0 (IsNext)"),
        ("NSP, 50%: from another document", [("s1.2", "#cfe2f3"), ("s2.1", "#f4cccc")], "label 1 (NotNext)"),
        ("SOP, 50%: in order", [("s1.2", "#cfe2f3"), ("s1.3", "#cfe2f3")], "label 0"),
        ("SOP, 50%: swapped", [("s1.3", "#cfe2f3"), ("s1.2", "#cfe2f3")], "label 1"),
    ]
    for p, (name, (a, b), label) in enumerate(pairs):
        x0, y = 5.6, 4.1 - 0.95 * p
        ax.text(x0 - 0.15, y, name, ha="right", va="center", fontsize=9)
        ax.text(x0 + 0.3, y, "[CLS]", ha="center", va="center", fontsize=8)
        _box(ax, x0 + 1.05, y, 0.8, 0.5, a[0], a[1], fontsize=9)
        ax.text(x0 + 1.8, y, "[SEP]", ha="center", va="center", fontsize=8)
        _box(ax, x0 + 2.55, y, 0.8, 0.5, b[0], b[1], fontsize=9)
        ax.text(x0 + 3.3, y, "[SEP]", ha="center", va="center", fontsize=8)
        ax.text(x0 + 3.75, y, label, ha="left", va="center", fontsize=9, fontweight="bold")
    ax.text(2.0, 1.85, "NSP's negative comes from another document, usually another topic:\n"
            "word overlap alone gives it away. SOP's two classes share the topic;\nonly the order differs.",
            ha="center", va="center", fontsize=9, color="#444444")
    ax.set_xlim(-1.6, 11.0)
    ax.set_ylim(0.8, 4.5)
    ax.set_title(title or "Building sentence pairs: next-sentence prediction and sentence-order prediction")
    return fig


def plot_padding_mask(attention_mask, tokens: Sequence[Sequence[str]] | None = None, title: str | None = None):
    """The padding mask of a batch as images: for each sequence, which key each query may attend to.

    Args:
        attention_mask: (B, T) 0/1 or boolean tensor or array; 1 marks a real token.
        tokens: optional B lists of T token strings for the tick labels.

    Returns:
        The Figure, one panel per sequence: row i, column j is dark when query i may attend
        to key j, i.e. ``attention_mask[b, None, :]`` broadcast over the queries.
    """
    import matplotlib.pyplot as plt

    mask = attention_mask.detach().cpu().numpy() if hasattr(attention_mask, "detach") else np.asarray(attention_mask)
    if mask.ndim != 2:
        raise ValueError(f"attention_mask must have shape (B, T); got {mask.shape}")
    if tokens is not None and (len(tokens) != mask.shape[0] or any(len(t) != mask.shape[1] for t in tokens)):
        raise ValueError(f"tokens must be {mask.shape[0]} lists of {mask.shape[1]} strings")
    B, T = mask.shape
    fig, axes = plt.subplots(1, B, figsize=(3.3 * B + 0.6, 3.6), layout="constrained", squeeze=False)
    for b, ax in enumerate(axes[0]):
        allowed = np.broadcast_to(mask[b][None, :].astype(float), (T, T))
        ax.imshow(allowed, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, T), minor=True)
        ax.set_yticks(np.arange(-0.5, T), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.6)
        ax.tick_params(which="minor", length=0)
        labels = list(tokens[b]) if tokens is not None else [str(t) for t in range(T)]
        ax.set_xticks(range(T), labels=labels, rotation=90, fontsize=7)
        ax.set_yticks(range(T), labels=labels, fontsize=7)
        ax.set_xlabel("key")
        if b == 0:
            ax.set_ylabel("query")
        ax.set_title(f"sequence {b}: {int(mask[b].sum())} tokens, {T - int(mask[b].sum())} padding", fontsize=9)
        ax.grid(False, which="major")
    fig.suptitle(title or "dark: the query may attend to the key; white: a padding key, weight 0", fontsize=10)
    return fig
