"""The length-extrapolation probe: its task, its two encoders, and what "untrained positions" means."""

from dataclasses import replace

import pytest
import torch

from bertcourse.models.length_probe import Copier, ProbeConfig, copy_batch, run, run_one, train

TINY = replace(ProbeConfig.for_profile("ci"), steps=3, eval_sequences=4, seeds=(0,))


def test_copy_batch_labels_are_the_token_offset_places_to_the_left():
    ids, labels = copy_batch(TINY, 10, 5, torch.Generator().manual_seed(0))
    assert ids.shape == labels.shape == (5, 10)
    assert ((ids >= 1) & (ids < TINY.vocab_size)).all()  # padding id 0 never drawn
    assert (labels[:, :TINY.offset] == -100).all()
    assert torch.equal(labels[:, TINY.offset:], ids[:, :-TINY.offset])


@pytest.mark.parametrize("positions", ["absolute", "relative"])
def test_copier_reads_sequences_longer_than_it_trains_on(positions):
    model = Copier(TINY, positions)
    ids, _ = copy_batch(TINY, max(TINY.test_lens), 2, torch.Generator().manual_seed(0))
    assert model(ids).shape == (2, max(TINY.test_lens), TINY.vocab_size)


def test_absolute_rows_beyond_the_trained_length_keep_their_initial_values():
    result = run_one(TINY, "absolute", seed=0)
    assert result["untrained_rows_unchanged"] is True
    assert set(result["beyond_train_len"]) == {str(n) for n in TINY.test_lens if n > TINY.train_len}


def test_training_moves_the_trained_position_rows():
    torch.manual_seed(0)
    model = Copier(TINY, "absolute")
    table = model.encoder.embeddings.position_embeddings.weight
    before = table.detach().clone()
    train(model, TINY, seed=0)
    assert not torch.equal(table.detach()[:TINY.train_len], before[:TINY.train_len])


def test_run_reports_both_encoders_beside_chance():
    results = run(TINY)
    assert results["chance"] == pytest.approx(1 / (TINY.vocab_size - 1))
    assert [r["positions"] for r in results["runs"]] == ["absolute", "relative"]
    for r in results["runs"]:
        assert set(r["accuracy"]) == {str(n) for n in TINY.test_lens}
        assert all(0.0 <= acc <= 1.0 for acc in r["accuracy"].values())
        assert r["by_position"][:TINY.offset] == [None] * TINY.offset
        assert len(r["by_position"]) == max(TINY.test_lens)


@pytest.mark.parametrize("changes, named", [(dict(offset=0), "offset"), (dict(offset=16), "offset"),
                                            (dict(test_lens=(3, 16)), "test length")])
def test_bad_config_is_refused_by_name(changes, named):
    with pytest.raises(ValueError, match=named):
        replace(TINY, **changes)


def test_unknown_position_kind_is_refused():
    with pytest.raises(ValueError, match="positions"):
        Copier(TINY, "rotary")
