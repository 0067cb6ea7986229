"""The course's figures: attention heatmaps, training curves and parameter shares.

Every function draws into matplotlib and returns what it drew (an ``Axes`` or
a ``Figure``); none calls ``plt.show`` or prints. Importing this module changes
no global state: call :func:`set_style` once to get the course's look.

Shape letters as in :mod:`bertcourse.models.bert`: T sequence length, nh heads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

#: The course's colours, in order: seaborn's colour-blind safe palette.
PALETTE = "colorblind"
#: The colour map of attention heatmaps (light = little weight, dark = much).
ATTENTION_CMAP = "Blues"
#: Parts of :func:`bertcourse.models.bert.parameter_counts` drawn by :func:`plot_parameter_shares`.
PARAMETER_PARTS = ("embeddings", "encoder", "pooler")


def set_style(context: str = "notebook") -> None:
    """Apply the course's seaborn theme (white grid, colour-blind palette) to matplotlib."""
    # Imported here: matplotlib and seaborn load when a figure is drawn, so importing bertcourse picks no plotting backend.
    import seaborn as sns

    sns.set_theme(context=context, style="whitegrid", palette=PALETTE, rc={"figure.dpi": 100, "axes.titleweight": "bold"})


def _as_array(weights) -> np.ndarray:
    """A float NumPy array from a torch tensor (any device, with or without grad) or an array-like."""
    if hasattr(weights, "detach"):
        weights = weights.detach().float().cpu().numpy()
    return np.asarray(weights, dtype=float)


def _new_axes(ax=None, figsize=(5, 4)):
    # Imported here: matplotlib and seaborn load when a figure is drawn, so importing bertcourse picks no plotting backend.
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _draw_attention(ax, weights: np.ndarray, tokens: Sequence[str], title: str | None, fontsize: float):
    image = ax.imshow(weights, cmap=ATTENTION_CMAP, vmin=0.0, aspect="equal", interpolation="nearest")
    positions = np.arange(len(tokens))
    ax.set_xticks(positions, labels=list(tokens), rotation=90, fontsize=fontsize)
    ax.set_yticks(positions, labels=list(tokens), fontsize=fontsize)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.grid(False)
    if title is not None:
        ax.set_title(title)
    return image


def _check_attention(weights: np.ndarray, tokens: Sequence[str], ndim: int, shape: str) -> None:
    if weights.ndim != ndim:
        raise ValueError(f"weights must have shape {shape}; got {weights.shape}")
    if weights.shape[-1] != len(tokens) or weights.shape[-2] != len(tokens):
        raise ValueError(f"weights {weights.shape} do not match the {len(tokens)} tokens given")


def plot_attention(weights, tokens: Sequence[str], ax=None, title: str | None = None):
    """Heatmap of one head's attention weights (T, T): row i is where token i looks.

    Args:
        weights: (T, T) tensor or array; rows are queries, columns keys.
        tokens: the T token strings, used as tick labels on both axes.
        ax: the Axes to draw into; a new figure when None.
        title: optional title.

    Returns:
        The Axes, with a colour bar beside it.
    """
    weights = _as_array(weights)
    _check_attention(weights, tokens, 2, "(T, T)")
    ax = _new_axes(ax, figsize=(0.32 * len(tokens) + 2.5, 0.32 * len(tokens) + 1.8))
    image = _draw_attention(ax, weights, tokens, title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return ax


def plot_attention_heads(weights, tokens: Sequence[str], heads: Sequence[int] | None = None, ncols: int = 4):
    """A grid of attention heatmaps, one panel per head.

    Args:
        weights: (nh, T, T) tensor or array, e.g. ``model.attention_maps(...)[layer][0]``.
        tokens: the T token strings.
        heads: which heads to draw (indices into the first dimension); all when None.
        ncols: panels per row.

    Returns:
        The Figure; it has exactly one Axes per head drawn, titled "head h".
    """
    # Imported here: matplotlib and seaborn load when a figure is drawn, so importing bertcourse picks no plotting backend.
    import matplotlib.pyplot as plt

    weights = _as_array(weights)
    _check_attention(weights, tokens, 3, "(heads, T, T)")
    heads = list(range(weights.shape[0])) if heads is None else [int(h) for h in heads]
    if not heads:
        raise ValueError("heads must name at least one head")
    for head in heads:
        if not 0 <= head < weights.shape[0]:
            raise ValueError(f"head {head} does not exist; weights have {weights.shape[0]} heads")
    ncols = max(1, min(ncols, len(heads)))
    nrows = math.ceil(len(heads) / ncols)
    side = 0.22 * len(tokens) + 1.4
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, side * nrows), layout="constrained", squeeze=False)
    for ax, head in zip(axes.flat, heads):
        _draw_attention(ax, weights[head], tokens, f"head {head}", fontsize=7)
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(heads) :]:
        ax.remove()
    return fig


def plot_history(history, keys: Sequence[str] = ("loss",), ax=None):
    """Training curves: one line per split (train, validation) and key, against the step.

    Args:
        history: anything with ``records``, a list of dicts
            ``{"step": int, "split": str, key: float, ...}`` (:class:`bertcourse.training.loop.History`).
        keys: the logged values to draw; each needs at least one record.
        ax: the Axes to draw into; a new figure when None.

    Returns:
        The Axes. Lines are labelled "split key" (e.g. "validation loss").
    """
    if isinstance(keys, str):
        keys = (keys,)
    ax = _new_axes(ax, figsize=(6, 3.5))
    splits = list(dict.fromkeys(record["split"] for record in history.records))
    styles = ["-", "--", ":", "-."]
    drawn = 0
    for key_index, key in enumerate(keys):
        for split_index, split in enumerate(splits):
            rows = [r for r in history.records if r["split"] == split and key in r]
            if not rows:
                continue
            ax.plot(
                [r["step"] for r in rows],
                [r[key] for r in rows],
                label=f"{split} {key}",
                color=f"C{split_index}",
                linestyle=styles[key_index % len(styles)],
                marker="o" if len(rows) < 20 else None,
                markersize=3,
            )
            drawn += 1
    if not drawn:
        raise ValueError(f"no record has any of the keys {list(keys)}")
    ax.set_xlabel("step")
    ax.set_ylabel(keys[0] if len(keys) == 1 else "value")
    ax.legend()
    return ax


def plot_parameter_shares(counts: Mapping, ax=None):
    """Stacked horizontal bars: the share of embeddings, encoder and pooler in each model.

    Args:
        counts: either one ``parameter_counts(config)`` dict, or a mapping from a
            model name to such a dict (e.g. ``{"bert-base": {...}, "minilm-l6": {...}}``).
            A "total" entry is ignored; shares are of the parts' sum.
        ax: the Axes to draw into; a new figure when None.

    Returns:
        The Axes; each bar segment is labelled with its percentage.
    """
    if counts and all(isinstance(value, (int, np.integer)) for value in counts.values()):
        counts = {"model": counts}
    names = list(counts)
    ax = _new_axes(ax, figsize=(7, 0.6 * len(names) + 1.4))
    left = np.zeros(len(names))
    for part_index, part in enumerate(PARAMETER_PARTS):
        values = np.array([counts[name].get(part, 0) for name in names], dtype=float)
        totals = np.array([sum(counts[name].get(p, 0) for p in PARAMETER_PARTS) for name in names], dtype=float)
        shares = 100 * values / totals
        bars = ax.barh(names, shares, left=left, label=part, color=f"C{part_index}")
        ax.bar_label(bars, labels=[f"{s:.1f}%" if s >= 4 else "" for s in shares], label_type="center", fontsize=9)
        left += shares
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of parameters (%)")
    ax.invert_yaxis()  # first model on top
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=len(PARAMETER_PARTS), frameon=False)
    ax.grid(False, axis="y")
    return ax
