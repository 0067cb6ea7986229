"""ELECTRA against a masked LM of the same size, trained for the same compute (CPU time) on the course corpora.

Both encoders have one shape (``ComparisonConfig``); the ELECTRA side also trains a generator of
half the width, whose time counts against its budget. Both read Chapter 2's masked batches
(the same data, tokenizer and masks). Each is then judged by a linear probe on a task neither
was trained on: spam or ham, from the mean-pooled encoder output of SpamAssassin emails (train
split to fit, test split to score), beside two baselines: the majority class and the same
encoder untrained. Results are cached by config in ``book/ch3_variants/_results``.
Taught in book/ch3_variants/electra.md.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from .electra import ElectraConfig, ElectraForMaskedLM, ElectraModel, ElectraPair, electra_corrupt

RESULTS = Path(__file__).resolve().parents[2] / "book" / "ch3_variants" / "_results"


@dataclass(frozen=True)
class ComparisonConfig:
    """The shape of both encoders, the wall-clock budget of each run, the seeds and the probe's size."""

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 2
    intermediate_size: int = 512
    generator_hidden_size: int = 64  # ELECTRA: a generator 1/4 to 1/2 of the discriminator works best
    seconds: float = 40.0  # CPU seconds per model and seed
    seeds: tuple[int, ...] = (0, 1, 2)
    seq_len: int = 128
    batch_size: int = 16
    learning_rate: float = 1e-3
    discriminator_weight: float = 50.0  # lambda in ELECTRA's loss
    probe_emails: int = 600  # per split, train and test
    profile: str = "cpu"

    @classmethod
    def for_profile(cls, name: str | None = None) -> ComparisonConfig:
        """ci: seconds in all; cpu: about 5 minutes on two cores; gpu: larger and longer."""
        chosen = runtime.profile(name).name
        sizes = {"ci": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=256, generator_hidden_size=32,
                            seconds=3.0, seeds=(0,), seq_len=64, probe_emails=120),
                 "cpu": {},
                 "gpu": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=4, intermediate_size=1024,
                             generator_hidden_size=128, seconds=600.0, batch_size=64, probe_emails=2000)}
        return replace(cls(), profile=chosen, **sizes[chosen])

    def key(self) -> str:
        return runtime.config_key(self, "sha1", 10)


def _electra_config(config: ComparisonConfig, vocab_size: int, pad_token_id: int, hidden: int,
                    intermediate: int) -> ElectraConfig:
    return ElectraConfig(vocab_size=vocab_size, embedding_size=config.hidden_size, hidden_size=hidden,
                         num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
                         intermediate_size=intermediate, max_position_embeddings=max(config.seq_len, 128),
                         pad_token_id=pad_token_id, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _train_for(model: nn.Module, loss_fn, batches, seconds: float, learning_rate: float) -> dict:
    """AdamW with a 20-step warm-up, then a constant rate, until ``seconds`` of this process's CPU time are spent.

    CPU time rather than wall-clock: on a shared machine other processes slow the wall clock
    down unevenly, while the compute a model gets is what the comparison must hold equal.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    model.train()
    start, wall, step, losses = time.process_time(), time.perf_counter(), 0, []
    for batch in batches:
        if time.process_time() - start >= seconds:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * min(1.0, (step + 1) / 20)
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        step += 1
    return {"steps": step, "seconds": time.process_time() - start, "wall_seconds": time.perf_counter() - wall,
            "final_loss": sum(losses[-10:]) / max(1, len(losses[-10:]))}


@torch.no_grad()
def _features(encoder: ElectraModel, texts: list[str], tokenizer, seq_len: int) -> torch.Tensor:
    """Mean-pooled last hidden states (N, H) of the texts, truncated to ``seq_len`` tokens."""
    encoder.eval()
    pooled = []
    for start in range(0, len(texts), 32):
        batch = tokenizer(texts[start:start + 32], padding=True, truncation=True, max_length=seq_len,
                          return_tensors="pt")
        mask = batch["attention_mask"]
        hidden = encoder(batch["input_ids"], mask)  # (B, T, H)
        pooled.append((hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))
    return torch.cat(pooled)


def _probe_accuracy(train_x, train_y, test_x, test_y) -> float:
    """A logistic regression on standardised features, 300 full-batch Adam steps; accuracy on the test split."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    probe = nn.Linear(train_x.size(1), 2)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.05, weight_decay=1e-3)
    for _ in range(300):
        optimizer.zero_grad()
        F.cross_entropy(probe(train_x), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        return (probe(test_x).argmax(-1) == test_y).float().mean().item()


def _emails(split: str, count: int, seed: int) -> tuple[list[str], torch.Tensor]:
    from ..data import spam_assassin_splits

    emails = spam_assassin_splits()[split]
    chosen = torch.randperm(len(emails), generator=torch.Generator().manual_seed(seed))[:count].tolist()
    texts = [" ".join(emails[i].body.split()[:200]) for i in chosen]
    return texts, torch.tensor([int(emails[i].label == "spam") for i in chosen])


def run(config: ComparisonConfig) -> dict:
    """Train both sides for every seed and probe them; returns the measurements (also what is cached)."""
    from ..pretraining.data import MaskedBatches, prepare_data
    from ..pretraining.masking import mask_tokens
    from ..pretraining.run import PretrainConfig

    pretrain = PretrainConfig.for_profile(config.profile, seq_len=config.seq_len, batch_size=config.batch_size)
    data = prepare_data(pretrain)
    tokenizer = data.tokenizer
    vocab, pad = len(tokenizer), tokenizer.pad_token_id
    discriminator = _electra_config(config, vocab, pad, config.hidden_size, config.intermediate_size)
    generator = _electra_config(config, vocab, pad, config.generator_hidden_size, 4 * config.generator_hidden_size)
    train_texts, train_y = _emails("train", config.probe_emails, 0)
    test_texts, test_y = _emails("test", config.probe_emails, 1)

    def probe(encoder):
        return _probe_accuracy(_features(encoder, train_texts, tokenizer, config.seq_len), train_y,
                               _features(encoder, test_texts, tokenizer, config.seq_len), test_y)

    def mlm_loss(model, batch):
        labelled = batch["labels"] != -100
        return F.cross_entropy(model(batch["input_ids"], batch["attention_mask"])[labelled], batch["labels"][labelled])

    def electra_loss(pair, batch):
        mlm, disc, _ = pair.losses(batch["input_ids"], batch["labels"], batch["attention_mask"])
        return mlm + config.discriminator_weight * disc

    runs = []
    for seed in config.seeds:
        runtime.set_seed(seed)
        untrained = ElectraModel(discriminator)
        mlm_model = ElectraForMaskedLM(discriminator)
        runtime.set_seed(seed)
        pair = ElectraPair(generator, discriminator)
        stream = lambda seed=seed: MaskedBatches(data.train, tokenizer, mask_tokens, pretrain.with_changes(seed=seed))
        mlm_run = _train_for(mlm_model, mlm_loss, stream(), config.seconds, config.learning_rate)
        electra_run = _train_for(pair, electra_loss, stream(), config.seconds, config.learning_rate)
        runs.append({"seed": seed, "mlm": {**mlm_run, "probe_accuracy": probe(mlm_model.electra)},
                     "electra": {**electra_run, "probe_accuracy": probe(pair.discriminator.electra)},
                     "untrained_probe_accuracy": probe(untrained)})
    majority = max(test_y.float().mean().item(), 1 - test_y.float().mean().item())
    example = _one_sentence(pair, tokenizer, config.seeds[-1])
    return {"config": asdict(config), "runs": runs, "majority_accuracy": majority,
            "probe": {"train": len(train_texts), "test": len(test_texts)},
            "parameters": {"discriminator": sum(p.numel() for p in ElectraModel(discriminator).parameters()),
                           "generator_extra": sum(p.numel() for p in pair.generator.parameters())
                           - sum(p.numel() for p in pair.discriminator.electra.embeddings.parameters()),
                           "mlm_encoder": sum(p.numel() for p in mlm_model.electra.parameters())},
            "example": example, "machine": {"threads": torch.get_num_threads(), "device": "cpu"}}


SENTENCE = "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little."


@torch.no_grad()
def _one_sentence(pair: ElectraPair, tokenizer, seed: int) -> dict:
    """The last seed's pair on one real sentence: what was masked, what the generator put there, and the
    discriminator's probability that each token was replaced."""
    from ..pretraining.masking import mask_tokens

    pair.eval()
    encoded = tokenizer(SENTENCE, return_tensors="pt", return_special_tokens_mask=True)
    g = torch.Generator().manual_seed(seed)
    masked, labels = mask_tokens(encoded["input_ids"], encoded["special_tokens_mask"].bool(), tokenizer.mask_token_id,
                                 len(tokenizer), 0.15, g)
    corrupted, is_replaced = electra_corrupt(masked, labels, pair.generator(masked), generator=g)
    probability = torch.sigmoid(pair.discriminator(corrupted))
    return {"original": tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist()),
            "corrupted": tokenizer.convert_ids_to_tokens(corrupted[0].tolist()),
            "masked": (labels[0] != -100).tolist(), "is_replaced": is_replaced[0].tolist(),
            "probability_replaced": [round(p, 4) for p in probability[0].tolist()]}


def cached(config: ComparisonConfig, folder: Path = RESULTS) -> dict:
    """The results of ``config``: read from ``folder`` if measured before, else measured now and written there.

    ``ci`` runs take seconds and are never written (a test build must not leave files behind).
    """
    return runtime.cached_json(folder / f"electra_vs_mlm_{config.profile}_{config.key()}.json", lambda: run(config),
                               write=config.profile != "ci")
