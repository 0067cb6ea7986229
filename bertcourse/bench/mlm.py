"""Table: one MLM pre-training step, the vocabulary projected at the masked positions only vs at every position."""

from __future__ import annotations

import torch
import transformers

from .. import runtime
from ..models.bert import BertConfig
from ..models.convert import load_transformers_weights
from ..models.heads import BertForPreTraining
from ..pretraining.masking import mask_tokens
from ..pretraining.objectives import IGNORE_INDEX, pretraining_loss
from ..pretraining.run import PretrainConfig
from .harness import BenchPlan, dtype_name, interleaved, paired_ratio, per_dtype, rate, ratio, spread
from .mfu import training_flops

KEY = "mlm"
TITLE = ("MLM pre-training step (forward, backward, AdamW), both sides in the row's dtype: vocabulary "
         "projection at masked positions only vs transformers' BertForMaskedLM at every position")


def mlm_model_config(profile_name: str, vocab_size: int | None = None) -> BertConfig:
    """The Chapter 2 model of ``profile_name`` (bertcourse.pretraining.run), with its tokenizer's vocabulary size."""
    config = PretrainConfig.for_profile(profile_name)
    if vocab_size is None:
        vocab_size = config.corpus_vocab_size if config.tokenizer == "corpus" else 30522
    return config.model_config(vocab_size)


def _masked_batch(config: BertConfig, batch: int, seq: int, device: torch.device, probability: float = 0.15):
    """A synthetic MLM batch: [CLS] ids [SEP], 15% of the inner positions masked (labels IGNORE_INDEX elsewhere)."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, config.vocab_size, (batch, seq), generator=generator)
    input_ids[:, 0], input_ids[:, -1] = 1, 2  # stand-ins for [CLS] and [SEP]
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    masked, labels = mask_tokens(input_ids, special, 3, config.vocab_size, probability, generator)
    return {"input_ids": masked.to(device), "labels": labels.to(device),
            "attention_mask": torch.ones_like(masked).to(device),
            "token_type_ids": torch.zeros_like(masked).to(device)}


def _optimizer(model) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-4)


def measure(plan: BenchPlan, device: torch.device, vocab_size: int | None = None) -> list[dict]:
    """One pre-training step (forward, backward, AdamW) of the Chapter 2 model vs transformers' BertForMaskedLM.

    One row per dtype: both sides run in that dtype (autocast), so each row compares like with like.

    Ours: :func:`bertcourse.pretraining.objectives.pretraining_loss`, which projects onto
    the vocabulary only at the masked positions, (N, V) logits. Theirs: the
    same shape and weights as ``transformers.BertForMaskedLM(labels=...)``,
    which projects every position, (B, T, V) logits.
    """
    config = mlm_model_config(plan.mlm_profile, vocab_size)
    torch.manual_seed(0)
    hf_config = config.to_transformers()
    hf_config._attn_implementation = "sdpa"
    weights = transformers.BertForPreTraining(hf_config).state_dict()  # MLM head, NSP head and pooler: one set for both
    theirs = transformers.BertForMaskedLM(hf_config)
    theirs.load_state_dict(weights, strict=False)  # BertForMaskedLM has no pooler or NSP head
    theirs = theirs.to(device).train()
    ours = load_transformers_weights(BertForPreTraining(config), weights).to(device).train()
    batch = _masked_batch(config, plan.mlm_batch, plan.mlm_seq, device)
    optimizers = {"ours": _optimizer(ours), "theirs": _optimizer(theirs)}

    def steps(dtype):
        def ours_step():
            optimizers["ours"].zero_grad(set_to_none=True)
            with runtime.autocast(device, dtype):
                loss, _ = pretraining_loss(ours, batch, "mlm")
            loss.backward()
            optimizers["ours"].step()

        def theirs_step():
            optimizers["theirs"].zero_grad(set_to_none=True)
            with runtime.autocast(device, dtype):
                loss = theirs(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              token_type_ids=batch["token_type_ids"], labels=batch["labels"]).loss
            loss.backward()
            optimizers["theirs"].step()

        return {"masked_only": ours_step, "full_vocabulary": theirs_step}

    masked = int((batch["labels"] != IGNORE_INDEX).sum())
    encoder = training_flops(config, plan.mlm_batch, plan.mlm_seq)

    def head(positions: int) -> float:  # dense H x H, then the H x V decoder, forward + backward
        return 3.0 * 2 * positions * (config.hidden_size ** 2 + config.hidden_size * config.vocab_size)

    tokens = plan.mlm_batch * plan.mlm_seq

    def base(dtype):
        return {"model": (f"Chapter 2 '{plan.mlm_profile}' model: {config.num_hidden_layers} layers, "
                          f"H={config.hidden_size}, V={config.vocab_size}"),
                "seq": plan.mlm_seq, "batch": plan.mlm_batch, "dtype": dtype_name(dtype)}

    def timed(dtype):
        times = interleaved(steps(dtype), warmup=plan.warmup, repeats=plan.repeats, device=device)
        return [{
            **base(dtype),
            "masked_tokens": masked,
            # What the matmul FLOPs alone allow: the encoder costs both sides the same.
            "flop_bound_speedup": (encoder + head(plan.mlm_batch * plan.mlm_seq)) / (encoder + head(masked)),
            "masked_only_tokens_per_s": spread(times["masked_only"], tokens),
            "full_vocabulary_tokens_per_s": spread(times["full_vocabulary"], tokens),
            "speedup": paired_ratio(times["masked_only"], times["full_vocabulary"]),
        }]

    return per_dtype(device, timed, lambda dtype, skip: [{**base(dtype), "skipped": skip}])


def rows(results: dict) -> list[dict[str, str]]:
    """The table's rows as strings."""
    table = []
    for row in results["mlm"]:
        if "skipped" in row:
            table.append({"model": row.get("model", "-"), "dtype": row.get("dtype", "-"),
                          "speed-up": "skipped: " + row["skipped"]})
            continue
        table.append({
            "model": row["model"], "B x T": f"{row['batch']} x {row['seq']}", "dtype": row["dtype"],
            "masked-only tok/s": rate(row["masked_only_tokens_per_s"]["median"]),
            "full-vocabulary tok/s": rate(row["full_vocabulary_tokens_per_s"]["median"]),
            "speed-up": ratio(row["speedup"]),
            "matmul-FLOP bound": f"{row['flop_bound_speedup']:.2f}x",
        })
    return table
