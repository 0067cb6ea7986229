"""mean_pooling with padding and all-padding rows; cosine_top_k against torch.topk on normalised vectors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertcourse.finetuning.pooling import cosine_top_k, mean_pooling


def test_mean_pooling_ignores_padding():
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(4, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    pooled = mean_pooling(hidden, mask)
    assert pooled.shape == (4, 5) and pooled.dtype == torch.float64
    for row, n in enumerate([6, 2, 1]):
        torch.testing.assert_close(pooled[row], hidden[row, :n].mean(0))
    assert torch.equal(pooled[3], torch.zeros(5, dtype=torch.float64))  # all padding: zeros, not NaN
    noisy = hidden.detach().clone()
    noisy[mask == 0] = 1e6  # whatever sits at the padding does not matter
    torch.testing.assert_close(mean_pooling(noisy, mask.bool()), pooled.detach())
    pooled.sum().backward()
    assert hidden.grad is not None and not hidden.grad[mask == 0].any()


def test_mean_pooling_matches_sentence_transformers_rule(tokenizer, minilm):
    batch = tokenizer(["Call me Ishmael.", "The whale surfaced near the ship at dawn."], padding=True,
                      return_tensors="pt")
    with torch.no_grad():
        states = minilm(batch["input_ids"], batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' Pooling
    torch.testing.assert_close(mean_pooling(states, batch["attention_mask"]), expected)


def test_cosine_top_k_matches_topk_on_normalised_vectors():
    g = torch.Generator().manual_seed(0)
    for _trial in range(50):
        q, n, d = (int(torch.randint(1, 9, (1,), generator=g)) for _ in range(3))
        queries = torch.randn(q, d, generator=g) * 3
        documents = torch.randn(n, d, generator=g) * 0.1
        k = int(torch.randint(1, n + 1, (1,), generator=g))
        scores, indices = cosine_top_k(queries, documents, k)
        similarity = F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T
        expected_scores, _ = torch.topk(similarity, k, dim=-1)
        assert scores.shape == indices.shape == (q, k) and indices.dtype == torch.int64
        torch.testing.assert_close(scores, expected_scores)
        torch.testing.assert_close(similarity.gather(1, indices), scores)  # each index has its score
        assert (scores[:, :-1] >= scores[:, 1:]).all()
        cosine = F.cosine_similarity(queries[:, None, :], documents[None, :, :], dim=-1)
        torch.testing.assert_close(scores, torch.topk(cosine, k, dim=-1).values)


def test_cosine_top_k_edges():
    documents = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    scores, indices = cosine_top_k(torch.tensor([[2.0, 0.0]]), documents, 3)
    assert indices.tolist() == [[0, 1, 2]] and scores.tolist() == [[1.0, 0.0, -1.0]]  # zero vector: 0
    with pytest.raises(ValueError, match="k must be"):
        cosine_top_k(torch.ones(1, 2), documents, 4)
    with pytest.raises(ValueError, match="k must be"):
        cosine_top_k(torch.ones(1, 2), documents, 0)
    with pytest.raises(ValueError, match="same size"):
        cosine_top_k(torch.ones(1, 3), documents, 1)
