"""Length extrapolation: learned absolute positions against DeBERTa's relative ones, on a task decided by distance.

The task: at every position i >= ``offset``, name the token at i - ``offset`` (copy the token
``offset`` places to the left); the tokens are uniform random, so nothing but the distance
helps. Two tiny encoders of one shape, each with a linear head over the vocabulary: BERT
(``BertModel``, learned absolute positions) and DeBERTa (``DebertaModel``, relative distances
clipped at ``max_distance``, no absolute position at all). Both train on sequences of
``train_len`` tokens and are scored on sequences up to ``max(test_lens)``.

BERT's position table must have a row for every test position, so it is built
``max(test_lens)`` long; only its first ``train_len`` rows ever get a gradient. Adam without
weight decay never moves a parameter whose gradient is always zero, so the rows beyond stay at
their random initial values: that is what "untrained positions" means here, and each run
records that it held. Results are cached by config in ``book/ch3_variants/_results``.
Taught in book/ch3_variants/deberta.md.

Shape letters: B batch, T sequence, V vocabulary.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import runtime
from .bert import BertConfig, BertModel
from .deberta import DebertaConfig, DebertaModel

RESULTS = Path(__file__).resolve().parents[2] / "book" / "ch3_variants" / "_results"
POSITIONS = ("absolute", "relative")


@dataclass(frozen=True)
class ProbeConfig:
    """The task, the shape both encoders share, the training budget and the seeds."""

    vocab_size: int = 16  # token ids 1..15 are drawn; 0 is padding and never appears
    offset: int = 3  # the answer at position i is the token at i - offset
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 64
    max_distance: int = 8  # DeBERTa's k: distances beyond ±k share the end rows of its table
    train_len: int = 16
    test_lens: tuple[int, ...] = (8, 16, 24, 32, 48, 64)
    steps: int = 600
    batch_size: int = 32
    learning_rate: float = 3e-3
    eval_sequences: int = 256  # per test length
    seeds: tuple[int, ...] = (0, 1, 2)
    profile: str = "cpu"

    def __post_init__(self) -> None:
        if not 0 < self.offset < self.train_len:
            raise ValueError(f"offset must be in (0, train_len={self.train_len}); got {self.offset}")
        if min(self.test_lens) <= self.offset:
            raise ValueError(f"every test length must exceed offset={self.offset}; got test_lens={self.test_lens}")

    @classmethod
    def for_profile(cls, name: str | None = None) -> ProbeConfig:
        """ci: a few seconds, one seed; cpu: about a minute of one core; gpu: the same as cpu (it is tiny)."""
        chosen = runtime.profile(name).name
        sizes = {"ci": dict(steps=150, seeds=(0,), eval_sequences=32, test_lens=(8, 16, 32)), "cpu": {}, "gpu": {}}
        return replace(cls(), profile=chosen, **sizes[chosen])

    def key(self) -> str:
        return runtime.config_key(self, "sha1", 10)


class Copier(nn.Module):
    """An encoder with a linear head over the vocabulary: (B, T) token ids -> (B, T, V) logits."""

    def __init__(self, config: ProbeConfig, positions: str):
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}; got {positions!r}")
        shape = dict(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                     num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
                     intermediate_size=config.intermediate_size, max_position_embeddings=max(config.test_lens),
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        if positions == "absolute":
            self.encoder = BertModel(BertConfig(**shape, type_vocab_size=1))
        else:
            self.encoder = DebertaModel(DebertaConfig(**shape, position_buckets=-1,
                                                      max_relative_positions=config.max_distance))
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.head(self.encoder(input_ids).last_hidden_state)


def copy_batch(config: ProbeConfig, length: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random tokens (B, length) and their labels (B, length): the token ``offset`` to the left, -100 before it."""
    ids = torch.randint(1, config.vocab_size, (batch_size, length), generator=generator)
    labels = torch.full_like(ids, -100)
    labels[:, config.offset:] = ids[:, :-config.offset]
    return ids, labels


def train(model: Copier, config: ProbeConfig, seed: int) -> list[float]:
    """Adam (no weight decay: untrained position rows must stay untouched) for ``config.steps`` steps; the losses."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    model.train()
    losses = []
    for _ in range(config.steps):
        ids, labels = copy_batch(config, config.train_len, config.batch_size, generator)
        loss = F.cross_entropy(model(ids).flatten(0, 1), labels.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def accuracy_by_position(model: Copier, config: ProbeConfig, length: int) -> Tensor:
    """(length,) accuracy at each position over ``eval_sequences`` fresh sequences; NaN before ``offset`` (no answer)."""
    model.eval()
    ids, labels = copy_batch(config, length, config.eval_sequences, torch.Generator().manual_seed(10_000 + length))
    correct = (model(ids).argmax(-1) == labels).float().mean(0)  # (T,)
    correct[:config.offset] = float("nan")
    return correct


def run_one(config: ProbeConfig, positions: str, seed: int) -> dict:
    """Train one encoder with one seed; its accuracy at every test length, and by position at the longest."""
    runtime.set_seed(seed)
    model = Copier(config, positions)
    table = model.encoder.embeddings.position_embeddings.weight if positions == "absolute" else None
    initial = None if table is None else table.detach().clone()
    start = time.process_time()
    losses = train(model, config, seed)
    seconds = time.process_time() - start
    by_length = {length: accuracy_by_position(model, config, length) for length in config.test_lens}
    result = {"positions": positions, "seed": seed, "cpu_seconds": seconds,
              "loss_first": sum(losses[:10]) / len(losses[:10]), "loss_last": sum(losses[-10:]) / len(losses[-10:]),
              "accuracy": {str(length): float(acc[config.offset:].mean()) for length, acc in by_length.items()},
              "beyond_train_len": {str(length): float(acc[config.train_len:].mean())
                                   for length, acc in by_length.items() if length > config.train_len},
              "by_position": [None if acc != acc else acc for acc in by_length[max(config.test_lens)].tolist()]}
    if table is not None:
        result["untrained_rows_unchanged"] = bool(torch.equal(table.detach()[config.train_len:],
                                                               initial[config.train_len:]))
    return result


def run(config: ProbeConfig) -> dict:
    """Every (positions, seed) run of ``config``, with chance (1 / the number of drawn tokens) as the baseline."""
    runs = [run_one(config, positions, seed) for positions in POSITIONS for seed in config.seeds]
    return {"config": asdict(config), "chance": 1 / (config.vocab_size - 1), "runs": runs,
            "threads": torch.get_num_threads()}


def cached(config: ProbeConfig, folder: Path = RESULTS) -> dict:
    """The results of ``config`` from ``folder``, else measured now (and written there, except under ``ci``)."""
    return runtime.cached_json(folder / f"length_probe_{config.profile}_{config.key()}.json", lambda: run(config),
                               write=config.profile != "ci")
