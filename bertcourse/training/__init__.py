"""Training: the model-agnostic loop and what it is made of.

- ``loop``: TrainConfig, History, train, evaluate_loss, parameter_groups.
- ``schedules``: learning-rate schedules, a table of small named functions, and lr_at.
- ``precision``: mixed precision, the one place an autocast setting becomes a dtype.
"""
