"""The models: the reference BERT and, chapter by chapter, its variants.

- ``bert``: BertConfig and the encoder, one class per box of the paper's figure (Chapter 1).
- ``heads``: the masked-LM and next-sentence heads, BertForPreTraining (Chapter 2).
- ``convert``: state-dict maps to and from transformers' checkpoints.
- ``dropout``: cheap CPU dropout masks and attention with dropout (training speed, same maths).
- ``counting``: BERT's parameter count in closed form (Chapter 3).
- ``roberta``, ``albert``, ``electra``, ``distilbert``, ``deberta``: the variants as deltas of the BERT
  classes, each with its transformers rename table (Chapter 3); ``renaming`` copies a checkpoint
  through such a table; ``catalog`` holds the released configs and their parameter counts.
"""
