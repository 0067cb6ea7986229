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
