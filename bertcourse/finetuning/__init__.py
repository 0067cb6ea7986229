"""Chapter 5: fine-tuning a pretrained BERT for classification, tokens, spans, pairs and retrieval.

The graded pieces live one concept per module (``pooling``, ``token_labels``,
``metrics``, ``qa``, ``classifier``); the task pipelines beside them (``spam``)
hold the data preparation, training and evaluation the book pages run.
Import the modules, e.g. ``from bertcourse.finetuning import pooling``.
"""
