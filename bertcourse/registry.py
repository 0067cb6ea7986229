"""The graded items of every assignment: the course's contract with its students.

Each item names the function or class a student writes, the assignment it
belongs to and its reference implementation in this package. The solution
notebooks' answer cells are generated from those references
(:mod:`bertcourse.authoring`), drift tests compare them, and the book's index
of graded items is rendered from this table.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

ASSIGNMENTS = ("ch1_architecture", "ch2_pretraining", "ch3_variants", "ch4_training", "ch5_finetuning")


@dataclass(frozen=True)
class GradedItem:
    """One thing a student writes, or a question they answer in prose."""

    name: str
    assignment: str
    summary: str
    reference: str | None = None  # "module:attribute" of the reference implementation; None for written answers

    def load_reference(self):
        """The reference implementation object (function or class)."""
        if self.reference is None:
            raise ValueError(f"{self.name} is a written answer; it has no reference implementation")
        module, attribute = self.reference.split(":")
        return getattr(importlib.import_module(module), attribute)

    def signature(self) -> str:
        """``name(params)`` as the student must keep it (a class shows its constructor)."""
        if self.reference is None:
            return ""
        obj = self.load_reference()
        target = obj.__init__ if inspect.isclass(obj) else obj
        parameters = list(inspect.signature(target).parameters.values())
        if inspect.isclass(obj):
            parameters = parameters[1:]  # drop self
        return f"{self.name}({', '.join(str(p) for p in parameters)})"


ITEMS: tuple[GradedItem, ...] = (
    GradedItem("wordpiece_tokenize", "ch1_architecture",
               "Greedy longest-match-first WordPiece for one word.",
               "bertcourse.tokenization:wordpiece_tokenize"),
    GradedItem("build_inputs", "ch1_architecture",
               "[CLS] A [SEP] (B [SEP]) framing, token type ids and BERT's truncation rule.",
               "bertcourse.tokenization:build_inputs"),
    GradedItem("scaled_dot_product_attention", "ch1_architecture",
               "softmax(QK^T/sqrt(d))V with a boolean or 0/1 mask, returning context and weights.",
               "bertcourse.models.bert:scaled_dot_product_attention"),
    GradedItem("BertSelfAttention", "ch1_architecture",
               "Multi-head self-attention with the padding mask and attention dropout.",
               "bertcourse.models.bert:BertSelfAttention"),
    GradedItem("BertEmbeddings", "ch1_architecture",
               "Token + position + segment embeddings, LayerNorm, dropout.",
               "bertcourse.models.bert:BertEmbeddings"),
    GradedItem("BertLayer", "ch1_architecture",
               "One post-LN encoder layer: attention and GELU feed-forward, each with residual and LayerNorm.",
               "bertcourse.models.bert:BertLayer"),
    GradedItem("encoder_matches_transformers", "ch1_architecture",
               "Your parts, assembled and loaded with MiniLM, reproduce transformers.BertModel."),
    GradedItem("written_mask_and_scale", "ch1_architecture",
               "Written: why scale by sqrt(d), and what goes wrong without the padding mask."),
    GradedItem("written_post_ln", "ch1_architecture",
               "Written: post-LN versus pre-LN, and where BERT's parameters live."),
    GradedItem("mask_tokens", "ch2_pretraining",
               "BERT's 80/10/10 masking of a batch, returning masked ids and MLM labels.",
               "bertcourse.pretraining.masking:mask_tokens"),
    GradedItem("whole_word_mask", "ch2_pretraining",
               "Select whole words, all their sub-tokens together.",
               "bertcourse.pretraining.masking:whole_word_mask"),
    GradedItem("span_mask", "ch2_pretraining",
               "SpanBERT's geometric span masking.",
               "bertcourse.pretraining.masking:span_mask"),
    GradedItem("create_nsp_examples", "ch2_pretraining",
               "Next-sentence-prediction pairs: half true next sentences, half from another document.",
               "bertcourse.pretraining.sentence_pairs:create_nsp_examples"),
    GradedItem("create_sop_examples", "ch2_pretraining",
               "Sentence-order-prediction pairs (ALBERT): consecutive segments, half swapped.",
               "bertcourse.pretraining.sentence_pairs:create_sop_examples"),
    GradedItem("mlm_loss_and_accuracy", "ch2_pretraining",
               "Cross-entropy and accuracy over the labelled (masked) positions only.",
               "bertcourse.pretraining.objectives:mlm_loss_and_accuracy"),
    GradedItem("pretraining_with_your_masking", "ch2_pretraining",
               "A small BERT pre-trained with your mask_tokens: the held-out loss falls."),
    GradedItem("written_eighty_ten_ten", "ch2_pretraining",
               "Written: why 10% of the selected tokens become random and 10% stay unchanged."),
    GradedItem("written_nsp_vs_sop", "ch2_pretraining",
               "Written: NSP's topic shortcut, how SOP closes it, and transformers' NSP label convention."),
    GradedItem("bert_parameter_count", "ch3_variants",
               "BERT's parameter count in closed form, equal to transformers.BertModel's for any config.",
               "bertcourse.models.counting:bert_parameter_count"),
    GradedItem("FactorizedEmbedding", "ch3_variants",
               "ALBERT's factorised token embedding: a V x E table, then an E -> H projection.",
               "bertcourse.models.albert:FactorizedEmbedding"),
    GradedItem("SharedLayerEncoder", "ch3_variants",
               "ALBERT's cross-layer sharing: one layer applied num_layers times, one set of weights.",
               "bertcourse.models.albert:SharedLayerEncoder"),
    GradedItem("electra_corrupt", "ch3_variants",
               "ELECTRA's corrupted input: masked positions sampled from the generator, and which tokens changed.",
               "bertcourse.models.electra:electra_corrupt"),
    GradedItem("electra_discriminator_loss", "ch3_variants",
               "Replaced-token detection: binary cross-entropy over the real tokens.",
               "bertcourse.models.electra:electra_discriminator_loss"),
    GradedItem("distillation_loss", "ch3_variants",
               "Knowledge distillation: T^2-scaled KL to the teacher's softened distribution plus the hard CE.",
               "bertcourse.models.distilbert:distillation_loss"),
    GradedItem("relative_positions", "ch3_variants",
               "DeBERTa's clipped relative distances j - i, shifted to table indices.",
               "bertcourse.models.deberta:relative_positions"),
    GradedItem("albert_with_your_components", "ch3_variants",
               "Your FactorizedEmbedding and SharedLayerEncoder in an ALBERT-style masked LM: the held-out loss falls."),
    GradedItem("written_electra_vs_mlm", "ch3_variants",
               "Written: where ELECTRA's sample efficiency comes from, and what an equal-compute comparison must hold fixed."),
    GradedItem("written_distillation_temperature", "ch3_variants",
               "Written: what the temperature reveals in the teacher's distribution, and why the soft term is scaled by T^2."),
    # --- Chapter 4: training tricks -------------------------------------------------------------
    GradedItem("linear_warmup_decay", "ch4_training",
               "BERT's schedule: linear warm-up, then linear decay to 0 (transformers' linear schedule).",
               "bertcourse.training.schedules:linear_warmup_decay"),
    GradedItem("cosine_warmup_decay", "ch4_training",
               "Linear warm-up, then half a cosine down to min_lr, which holds from total_steps on.",
               "bertcourse.training.schedules:cosine_warmup_decay"),
    GradedItem("adamw_update", "ch4_training",
               "One in-place AdamW step: bias-corrected moments, decoupled weight decay (torch.optim.AdamW).",
               "bertcourse.training.optim:adamw_update"),
    GradedItem("layerwise_lr_groups", "ch4_training",
               "Parameter groups with layer-wise learning-rate decay; no decay on biases and LayerNorm.",
               "bertcourse.training.layerwise:layerwise_lr_groups"),
    GradedItem("clip_grad_norm", "ch4_training",
               "Clip all gradients by their global L2 norm, returning the norm before (clip_grad_norm_).",
               "bertcourse.training.clipping:clip_grad_norm"),
    GradedItem("accumulate_and_step", "ch4_training",
               "One optimiser step over equal micro-batches, equal to the full-batch step.",
               "bertcourse.training.accumulation:accumulate_and_step"),
    GradedItem("training_with_your_components", "ch4_training",
               "A small BERT trained with your six pieces follows the library's loss curve."),
    GradedItem("written_warmup", "ch4_training",
               "Written: why Adam and post-LN need warm-up, and warm-up as a fraction of the run."),
    GradedItem("written_weight_decay", "ch4_training",
               "Written: AdamW versus Adam with L2, the decay exclusions, and layer-wise rates."),
    # --- ch5_finetuning ---
    GradedItem("SequenceClassifier", "ch5_finetuning",
               "An encoder plus dropout and a linear head on the final [CLS] vector.",
               "bertcourse.finetuning.classifier:SequenceClassifier"),
    GradedItem("mean_pooling", "ch5_finetuning",
               "The mean of the token vectors over the real tokens; an all-padding row gives zeros.",
               "bertcourse.finetuning.pooling:mean_pooling"),
    GradedItem("cosine_top_k", "ch5_finetuning",
               "The k most cosine-similar documents of each query, scores and indices, best first.",
               "bertcourse.finetuning.pooling:cosine_top_k"),
    GradedItem("align_labels_with_tokens", "ch5_finetuning",
               "Word labels onto WordPiece tokens: first sub-token labelled, -100 at specials and continuations.",
               "bertcourse.finetuning.token_labels:align_labels_with_tokens"),
    GradedItem("entity_f1", "ch5_finetuning",
               "Entity-level micro F1 of BIO tags, seqeval's strict IOB2 mode, without seqeval.",
               "bertcourse.finetuning.metrics:entity_f1"),
    GradedItem("best_answer_span", "ch5_finetuning",
               "The best valid (start, end) span from start and end logits, inside the context.",
               "bertcourse.finetuning.qa:best_answer_span"),
    GradedItem("spam_with_your_classifier", "ch5_finetuning",
               "Your SequenceClassifier fine-tuned from MiniLM on SpamAssassin: the held-out loss falls."),
    GradedItem("written_spam_errors", "ch5_finetuning",
               "Written: read the confusion matrices and the errors; when the cheap baseline is enough."),
)


def items(assignment: str | None = None, *, with_reference: bool | None = None) -> list[GradedItem]:
    """The registered items, optionally of one assignment and with/without a reference."""
    if assignment is not None and assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}; expected one of {ASSIGNMENTS}")
    return [
        item for item in ITEMS
        if (assignment is None or item.assignment == assignment)
        and (with_reference is None or (item.reference is not None) == with_reference)
    ]


def item(name: str) -> GradedItem:
    """The item called ``name``."""
    for candidate in ITEMS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no graded item named {name!r}")


def item_of(grade_id: str, names) -> str | None:
    """Which of ``names`` a test cell belongs to: ``test_<name>`` or ``test_<name>_...``, longest match first.

    Longest first, so ``test_BertLayer_hidden`` is not credited to a shorter name that is its prefix.
    """
    matches = [name for name in names if grade_id == f"test_{name}" or grade_id.startswith(f"test_{name}_")]
    return max(matches, key=len) if matches else None
