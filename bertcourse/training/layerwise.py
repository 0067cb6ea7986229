"""Layer-wise learning-rate decay: optimiser parameter groups whose rates fall from the head down to the embeddings.

Taught in book/ch4_training/layerwise.md.
"""

from __future__ import annotations

from torch import nn

from bertcourse.models.bert import BertModel


def layerwise_lr_groups(model, base_lr: float, decay: float, weight_decay: float = 0.01) -> list[dict]:
    """Parameter groups for fine-tuning with layer-wise learning-rate decay (Clark et al., 2020; Sun et al., 2019).

    Args:
        model: an ``nn.Module`` holding one ``BertModel`` (this package's, found among
            ``model.modules()``, e.g. as ``model.bert``) and a task head beside it.
        base_lr: the learning rate of the head.
        decay: the factor each layer's rate shrinks by, going down from the head.
        weight_decay: the weight decay of the parameters that are decayed.

    Returns:
        A list of dicts, each with the keys ``"params"`` (a list of parameters), ``"lr"`` and
        ``"weight_decay"`` (floats), ready for ``torch.optim.AdamW``. Every parameter of
        ``model.parameters()`` is in exactly one group (a tied weight once). With ``L`` the number of
        encoder layers (``len(bert.encoder.layers)``):

        * everything outside the ``BertModel``'s embeddings and encoder (the pooler, the task head) at
          ``base_lr``;
        * the parameters of encoder layer ``l`` (1-based: layer 1 is nearest the embeddings, layer
          ``L`` the top) at ``base_lr * decay ** (L - l)``;
        * the embeddings (all of ``bert.embeddings``, its LayerNorm included) at ``base_lr * decay ** L``.

        Weight decay is 0 for every bias (a parameter whose name ends in ``bias``) and every parameter
        of an ``nn.LayerNorm``; all other parameters get ``weight_decay``. How the parameters are
        grouped beyond that is free (one group per parameter is fine).

    Taught in book/ch4_training/layerwise.md.
    """
    bert = next(module for module in model.modules() if isinstance(module, BertModel))
    num_layers = len(bert.encoder.layers)
    depth = {id(p): num_layers for p in bert.embeddings.parameters()}  # decay ** depth; the head has depth 0
    for l, layer in enumerate(bert.encoder.layers, start=1):
        depth.update({id(p): num_layers - l for p in layer.parameters()})
    in_norm = {id(p) for module in model.modules() if isinstance(module, nn.LayerNorm) for p in module.parameters()}
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():  # each parameter once, tied weights included
        exponent = depth.get(id(param), 0)
        decayed = not (name.endswith("bias") or id(param) in in_norm)
        group = groups.setdefault((exponent, decayed), {
            "params": [], "lr": base_lr * decay**exponent, "weight_decay": weight_decay if decayed else 0.0})
        group["params"].append(param)
    return list(groups.values())
