"""Table: time to accuracy, the course's pre-training recipe against the obvious transformers loop on the same data.

The obvious alternative is what a practitioner writes first: ``transformers.BertForMaskedLM``
of the same width and depth, ``DataCollatorForLanguageModeling`` (15% masked, 80/10/10) and a
plain AdamW loop at BERT's defaults: from the paper (Devlin et al., 2019, appendix A.2) peak
learning rate 1e-4, betas (0.9, 0.999), weight decay 0.01, linear warm-up over the first 1% of
training then linear decay to zero, dropout 0.1; from the authors' code (google-research/bert)
epsilon 1e-6, no weight decay on biases and LayerNorm, gradients clipped at norm 1 and
initialisation std 0.02 (dropout and std as in ``transformers.BertConfig``'s defaults); fp32.
It trains for a fixed wall-clock budget (10 minutes in the full plan), with the warm-up and decay laid over that budget's seconds,
because a time budget has no step count to schedule by (cramming's choice, Geiping &
Goldstein, 2023).

The course's recipe is the Chapter 2 ``cpu`` profile (book/ch4_training/recipe.md). Both see the
same tokenizer, training examples and held-out masked tokens (:func:`validation_batches`), on
the same device with the same threads, one after the other. The row reports how soon the
recipe reaches the transformers run's final accuracy; that time is read at the recipe's own
evaluations, so the speed-up is a lower bound.
"""

from __future__ import annotations

import itertools
import time

import torch
import transformers

from .. import runtime
from ..pretraining.data import PretrainData, prepare_data, validation_batches
from ..pretraining.masking import mask_tokens
from ..pretraining.objectives import IGNORE_INDEX
from ..pretraining.run import PretrainConfig, pretrain
from ..training import precision
from ..training.loop import parameter_groups
from ..training.schedules import linear
from .harness import BenchPlan, dtype_name, rate

KEY = "recipe_vs_transformers"
TITLE = ("Time to accuracy on the same data: the course's pre-training recipe against transformers' "
         "BertForMaskedLM + DataCollatorForLanguageModeling + AdamW at BERT's defaults "
         "(one run each, one after the other)")

# BERT's pre-training defaults (Devlin et al., 2019, A.2; epsilon, exclusions and clipping from google-research/bert).
BERT_LR = 1e-4
BERT_BETAS = (0.9, 0.999)
BERT_EPS = 1e-6
BERT_WEIGHT_DECAY = 0.01
BERT_WARMUP_FRACTION = 0.01  # 10,000 of 1,000,000 steps
BERT_CLIP_NORM = 1.0
TRANSFORMERS_SIDE = "transformers BertForMaskedLM, BERT's defaults"
RECIPE_SIDE = "course recipe"


def transformers_model(config: PretrainConfig, vocab_size: int, pad_token_id: int) -> transformers.BertForMaskedLM:
    """A fresh ``BertForMaskedLM`` of the recipe's width and depth, BERT's dropout and initialisation."""
    defaults = transformers.BertConfig()
    hf_config = config.model_config(vocab_size, pad_token_id).to_transformers()
    hf_config.hidden_dropout_prob = defaults.hidden_dropout_prob
    hf_config.attention_probs_dropout_prob = defaults.attention_probs_dropout_prob
    hf_config.initializer_range = defaults.initializer_range
    return transformers.BertForMaskedLM(hf_config)


def bert_adamw(model: torch.nn.Module) -> torch.optim.AdamW:
    """AdamW at BERT's defaults; no weight decay on biases and LayerNorm weights (the course's grouping)."""
    return torch.optim.AdamW(parameter_groups(model, BERT_WEIGHT_DECAY), lr=BERT_LR, betas=BERT_BETAS, eps=BERT_EPS)


@torch.no_grad()
def held_out_accuracy(model: transformers.BertForMaskedLM, batches: list[dict], device: torch.device) -> float:
    """Accuracy of the argmax prediction over every masked held-out token."""
    correct = total = 0
    with runtime.eval_mode(model):
        for batch in batches:
            batch = runtime.to_device(batch, device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           token_type_ids=batch["token_type_ids"]).logits  # (B, T, V)
            scored = batch["labels"] != IGNORE_INDEX  # (B, T): the masked positions
            correct += int((logits[scored].argmax(-1) == batch["labels"][scored]).sum())
            total += int(scored.sum())
    return correct / max(total, 1)


def train_transformers(config: PretrainConfig, data: PretrainData, seconds: float, evals: int,
                       device: torch.device) -> dict:
    """The transformers loop for ``seconds`` of wall-clock time (evaluations included), evaluated ``evals`` times.

    Returns its curve ``[[seconds, held-out accuracy], ...]`` (the last point at the end of the
    budget), steps, real tokens per second and final accuracy.
    """
    torch.manual_seed(config.train.seed)  # the model's initialisation and the collator's masks
    tokenizer = data.tokenizer
    model = transformers_model(config, len(tokenizer), tokenizer.pad_token_id).to(device)
    optimizer = bert_adamw(model)
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability)
    loader = torch.utils.data.DataLoader(
        [{"input_ids": e["input_ids"], "token_type_ids": e["token_type_ids"]} for e in data.train],
        batch_size=config.batch_size, shuffle=True, collate_fn=collator,
        generator=torch.Generator().manual_seed(config.train.seed))
    held_out = validation_batches(data.validation, tokenizer, config, mask_tokens)
    curve, steps, tokens, next_eval = [], 0, 0, seconds / evals
    start = time.perf_counter()
    for batch in (batch for _ in itertools.count() for batch in loader):  # epoch after epoch until the budget ends
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        if elapsed >= next_eval:
            curve.append([round(elapsed, 2), held_out_accuracy(model, held_out, device)])
            next_eval += seconds / evals
        for group in optimizer.param_groups:  # BERT's schedule, over the budget's seconds
            group["lr"] = BERT_LR * linear(elapsed, BERT_WARMUP_FRACTION * seconds, seconds)
        batch = runtime.to_device(batch, device)
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), BERT_CLIP_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        steps += 1
        tokens += int(batch["attention_mask"].sum())
    trained = time.perf_counter() - start
    curve.append([round(trained, 2), held_out_accuracy(model, held_out, device)])
    return {"curve": curve, "steps": steps, "tokens_per_s": tokens / trained, "final_accuracy": curve[-1][1]}


def measure(plan: BenchPlan, device: torch.device) -> list[dict]:
    """The transformers loop for ``plan.baseline_seconds``, then the course recipe; when did the recipe pass it?

    A plan without ``baseline_seconds`` (the quick one) skips the comparison: its point is minutes of training.
    """
    if plan.baseline_seconds is None:
        return [{"side": side, "skipped": f"the {plan.name} plan does not run it (minutes of training; `make bench` does)"}
                for side in (TRANSFORMERS_SIDE, RECIPE_SIDE)]
    config = PretrainConfig.for_profile(plan.mlm_profile, device=str(device), num_evals=plan.recipe_evals)
    data = prepare_data(config)
    theirs = train_transformers(config, data, plan.baseline_seconds, plan.accuracy_evals, device)
    result = pretrain(config, progress=False, data=data)
    _, seconds = result.history.series("validation", "seconds")
    _, accuracy = result.history.series("validation", "mlm_accuracy")
    ours = {"curve": [[round(t, 2), a] for t, a in zip(seconds, accuracy)], "steps": config.train.max_steps,
            "tokens_per_s": result.tokens_per_second, "final_accuracy": accuracy[-1]}
    target, budget = theirs["final_accuracy"], theirs["curve"][-1][0]
    reached = next((t for t, a in ours["curve"] if a >= target), None)
    ours.update(target_accuracy=target, seconds_to_target=reached,
                speedup=None if reached is None else budget / reached)
    shape = {"batch": config.batch_size, "seq": config.seq_len, "layers": config.model.num_hidden_layers,
             "hidden": config.model.hidden_size}
    recipe_dtype = dtype_name(precision.resolve(device, config.train.autocast))
    return [{"side": TRANSFORMERS_SIDE, **shape, "dtype": "fp32", "learning_rate": BERT_LR, **theirs},
            {"side": RECIPE_SIDE, **shape, "dtype": recipe_dtype, "positions": config.positions,
             "learning_rate": config.train.learning_rate, **ours}]


def rows(results: dict) -> list[dict[str, str]]:
    """The table's rows as strings."""
    table = []
    for row in results.get(KEY, []):
        if "skipped" in row:
            table.append({"run": row["side"], "final held-out MLM accuracy": "skipped: " + row["skipped"]})
            continue
        line = {"run": row["side"], "dtype": row["dtype"],
                "steps of B x T": f"{row['steps']} of {row['batch']} x {row['seq']}",
                "tok/s": rate(row["tokens_per_s"]),
                "minutes": f"{row['curve'][-1][0] / 60:.1f}",
                "final held-out MLM accuracy": f"{100 * row['final_accuracy']:.1f}%"}
        if "target_accuracy" in row:
            reached = row["seconds_to_target"]
            line["time to the transformers run's final accuracy"] = (
                "not reached" if reached is None else f"{reached:.0f} s ({row['speedup']:.1f}x sooner)")
        table.append(line)
    return table
