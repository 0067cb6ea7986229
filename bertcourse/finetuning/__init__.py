"""Chapter 5: fine-tuning a pretrained BERT for classification, tokens, spans and retrieval.

The graded pieces live one concept per module (``classifier``, ``pooling``,
``token_labels``, ``metrics``, ``qa``); ``inputs`` and ``finetune`` frame, batch,
train and predict for any task; ``token_classifier`` puts a head on every token,
``windows`` and ``squad_metrics`` serve extractive QA; ``lora`` adds low-rank adapters to a
frozen encoder; the tasks the book runs have a module each (``spam``, ``sotu_party``,
``retrieval`` with ``rerank``, ``next_passage``, ``ner`` with ``entities`` for the gazetteer labels,
``header_qa``); ``seeds`` sums a fine-tune's score over seeds and weighs its margin over a
baseline against that spread.
Import the modules, e.g. ``from bertcourse.finetuning import pooling``.
"""
