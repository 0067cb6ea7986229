"""The models: the reference BERT and, chapter by chapter, its variants.

- ``bert``: BertConfig and the encoder, one class per box of the paper's figure (Chapter 1).
- ``heads``: the masked-LM and next-sentence heads, BertForPreTraining (Chapter 2).
- ``convert``: state-dict maps to and from transformers' checkpoints.
- ``dropout``: cheap CPU dropout masks and attention with dropout (training speed, same maths).
"""
