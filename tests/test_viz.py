"""The figures: labels come from the tokens, grids have the panels asked for, curves one line per split."""

from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from bertcourse import viz  # noqa: E402
from bertcourse.models.bert import BertConfig, parameter_counts  # noqa: E402

TOKENS = ["[CLS]", "call", "me", "is", "##hma", "##el", "[SEP]"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def attention(heads: int, length: int) -> torch.Tensor:
    return torch.randn(heads, length, length, generator=torch.Generator().manual_seed(0)).softmax(-1)


def tick_labels(axis) -> list[str]:
    return [label.get_text() for label in axis.get_ticklabels()]


def test_plot_attention_labels_both_axes_with_tokens():
    ax = viz.plot_attention(attention(1, len(TOKENS))[0], TOKENS, title="layer 0, head 0")
    assert tick_labels(ax.xaxis) == TOKENS
    assert tick_labels(ax.yaxis) == TOKENS
    assert ax.get_title() == "layer 0, head 0"
    image = ax.get_images()[0].get_array()
    assert image.shape == (len(TOKENS), len(TOKENS))


def test_plot_attention_draws_into_a_given_axes_and_accepts_arrays():
    fig, ax = plt.subplots()
    weights = attention(1, 3)[0].numpy()
    returned = viz.plot_attention(weights, ["a", "b", "c"], ax=ax)
    assert returned is ax
    np.testing.assert_allclose(ax.get_images()[0].get_array(), weights, rtol=1e-6)


def test_plot_attention_rejects_a_token_count_that_does_not_match():
    with pytest.raises(ValueError, match="3 tokens"):
        viz.plot_attention(attention(1, 4)[0], ["a", "b", "c"])


@pytest.mark.parametrize(("heads", "ncols", "rows"), [(None, 4, 2), ([0, 5, 2], 2, 2), ([7], 4, 1)])
def test_plot_attention_heads_has_one_panel_per_head(heads, ncols, rows):
    fig = viz.plot_attention_heads(attention(8, len(TOKENS)), TOKENS, heads=heads, ncols=ncols)
    drawn = list(range(8)) if heads is None else heads
    assert len(fig.axes) == len(drawn)
    assert [ax.get_title() for ax in fig.axes] == [f"head {h}" for h in drawn]
    assert len({ax.get_subplotspec().rowspan.start for ax in fig.axes}) == rows
    assert all(tick_labels(ax.xaxis) == TOKENS for ax in fig.axes)


def test_plot_attention_heads_rejects_a_missing_head():
    with pytest.raises(ValueError, match="head 3"):
        viz.plot_attention_heads(attention(2, 3), ["a", "b", "c"], heads=[3])


@dataclass
class FakeHistory:
    records: list[dict] = field(default_factory=list)


def history() -> FakeHistory:
    records = [{"step": s, "split": "train", "loss": 5.0 - 0.1 * s} for s in range(10)]
    records += [{"step": s, "split": "validation", "loss": 5.2 - 0.1 * s, "accuracy": 0.1 * s} for s in (4, 9)]
    return FakeHistory(records)


def test_plot_history_draws_one_line_per_split():
    ax = viz.plot_history(history())
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["train loss", "validation loss"]
    assert list(lines[0].get_xdata()) == list(range(10))
    assert list(lines[1].get_xdata()) == [4, 9]
    assert ax.get_xlabel() == "step"
    assert ax.get_ylabel() == "loss"


def test_plot_history_skips_splits_without_the_key_and_fails_on_unknown_keys():
    ax = viz.plot_history(history(), keys=("accuracy",))
    assert [line.get_label() for line in ax.get_lines()] == ["validation accuracy"]
    with pytest.raises(ValueError, match="perplexity"):
        viz.plot_history(history(), keys=("perplexity",))


def test_plot_history_reads_the_course_history_class():
    train = pytest.importorskip("bertcourse.training.loop")
    run = train.History()
    run.log(0, "train", loss=3.0)
    run.log(1, "train", loss=2.0)
    run.log(1, "validation", loss=2.5)
    assert len(viz.plot_history(run).get_lines()) == 2


def test_plot_parameter_shares_stacks_parts_to_one_hundred_percent():
    counts = {name: parameter_counts(BertConfig.preset(name)) for name in ("bert-base", "minilm-l6")}
    ax = viz.plot_parameter_shares(counts)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["bert-base", "minilm-l6"]
    widths = np.array([patch.get_width() for patch in ax.patches]).reshape(len(viz.PARAMETER_PARTS), 2)
    np.testing.assert_allclose(widths.sum(axis=0), 100.0)
    base = counts["bert-base"]
    assert widths[0, 0] == pytest.approx(100 * base["embeddings"] / base["total"])


def test_plot_parameter_shares_accepts_a_single_model():
    ax = viz.plot_parameter_shares(parameter_counts(BertConfig.preset("tiny")))
    assert len(ax.patches) == len(viz.PARAMETER_PARTS)


def test_importing_viz_leaves_matplotlib_settings_alone():
    import importlib

    before = dict(matplotlib.rcParams)
    importlib.reload(viz)
    assert dict(matplotlib.rcParams) == before
