"""Gradient accumulation: one optimiser step over several micro-batches, equal to one large batch.

Taught in book/ch4_training/accumulation.md.
"""

from __future__ import annotations

from torch import Tensor


def accumulate_and_step(model, optimizer, inputs: Tensor, targets: Tensor, loss_fn,
                        accumulation_steps: int) -> float:
    """One optimiser step on ``(inputs, targets)``, computed ``accumulation_steps`` micro-batches at a time.

    Args:
        model: called as ``model(micro_inputs)``.
        optimizer: a ``torch.optim`` optimiser over the model's parameters; ``optimizer.step()`` is
            called exactly once.
        inputs, targets: tensors whose dim 0 is the batch; both are split along dim 0, in order, into
            ``accumulation_steps`` micro-batches of equal size.
        loss_fn: ``loss_fn(model(micro_inputs), micro_targets)`` returns the micro-batch's mean loss
            (a scalar tensor, e.g. ``F.cross_entropy``).
        accumulation_steps: the number of micro-batches, an int >= 1.

    Any gradient already in the parameters is discarded first; each micro-batch's loss is divided by
    ``accumulation_steps`` before ``backward()``, so the accumulated gradient is that of the whole
    batch's mean loss; then one ``optimizer.step()``, and the gradients are zeroed again (None or
    zeros). The parameters afterwards equal one step on the whole batch with the mean loss (to 1e-6
    in float64).

    Returns:
        The mean of the micro-batches' (undivided) losses, a Python ``float``: the whole batch's mean loss.

    Raises:
        ValueError: when ``accumulation_steps`` is not an int >= 1, or the batch size is not a multiple of
            it (the micro-batches would be unequal and their mean would not be the batch mean).

    Taught in book/ch4_training/accumulation.md.
    """
    if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be an int >= 1; got {accumulation_steps!r}")
    batch_size = inputs.shape[0]
    if batch_size % accumulation_steps or targets.shape[0] != batch_size:
        raise ValueError(f"inputs and targets must share a batch size divisible by accumulation_steps="
                         f"{accumulation_steps}; got {batch_size} inputs and {targets.shape[0]} targets")
    micro = batch_size // accumulation_steps
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for start in range(0, batch_size, micro):
        loss = loss_fn(model(inputs[start:start + micro]), targets[start:start + micro])
        # The mean of A equal micro-batch means is the batch mean: each contributes 1/A of the gradient.
        (loss / accumulation_steps).backward()
        total += loss.item()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total / accumulation_steps
