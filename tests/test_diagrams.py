"""The architecture diagrams are drawn from the config: change the config, the numbers on the picture follow."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bertcourse import diagrams  # noqa: E402
from bertcourse.models.bert import BertConfig  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title]) + "\n" + (
        fig._suptitle.get_text() if fig._suptitle else "")


@pytest.mark.parametrize("name", ["bert-base", "tiny"])
def test_encoder_block_states_the_configs_sizes(name):
    config = BertConfig.preset(name)
    text = texts(diagrams.draw_encoder_block(config))
    assert f"x {config.num_hidden_layers} layers" in text
    assert f"{config.hidden_size} -> {config.intermediate_size} (GELU) -> {config.hidden_size}" in text
    assert f"{config.num_attention_heads} heads of {config.head_size}" in text
    assert f"{config.vocab_size:,} x {config.hidden_size}" in text


def test_attention_split_shows_the_head_shapes():
    config = BertConfig.preset("bert-base")
    text = texts(diagrams.draw_attention_heads_split(config, seq_len=5))
    assert "(B, 12, 5, 64)" in text and "12 x 64 = 768 = H" in text


def test_embedding_sum_has_one_column_per_token_and_checks_lengths():
    config = BertConfig.preset("tiny")
    tokens, segments = ["[CLS]", "a", "[SEP]", "b", "[SEP]"], [0, 0, 0, 1, 1]
    text = texts(diagrams.draw_embedding_sum(tokens, segments, config))
    assert text.count("E[") == len(tokens) and "$_{B}$" in text and f"{config.type_vocab_size} x" in text
    with pytest.raises(ValueError, match="same length"):
        diagrams.draw_embedding_sum(tokens, segments[:-1], config)


def test_padding_mask_image_is_the_broadcast_key_mask():
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    fig = diagrams.plot_padding_mask(mask)
    assert len(fig.axes) == 2
    for b, ax in enumerate(fig.axes):
        image = ax.images[0].get_array()
        assert np.array_equal(np.asarray(image), np.broadcast_to(mask[b][None, :], (4, 4)).astype(float))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        diagrams.plot_padding_mask(mask[0])


def test_static_diagrams_draw():
    assert "label 1 (NotNext)" in texts(diagrams.draw_sentence_pairs())
    assert "x <- LayerNorm(x + Dropout(Sublayer(x)))" in texts(diagrams.draw_post_ln_vs_pre_ln())
