"""The reference models: BERT and its variants, each a module."""
