"""Pre-training (Chapter 2): masking, sentence pairs, objectives, the data pipeline and the run.

- ``masking``: BERT's 80/10/10 rule, whole-word and span masking.
- ``sentence_pairs``: NSP and SOP examples.
- ``objectives``: IGNORE_INDEX, the MLM loss and accuracy, the pre-training loss.
- ``corpus_tokenizer``: a WordPiece vocabulary trained on the corpora.
- ``baselines``: counting baselines for MLM accuracy.
- ``data``: documents -> segments -> pairs -> token ids -> masked batches.
- ``run``: PretrainConfig, pretrain, evaluate, fill_mask.
"""
