"""Data-parallel training with ``torch.distributed``: one run split over processes, launched by ``torchrun``.

Each process (rank) holds a full copy of the model and takes its own slice of every batch;
``DistributedDataParallel`` averages the gradients across ranks during ``backward()`` (an
all-reduce), so every rank takes the same optimiser step. With equal slices and a mean-reduced
loss, the averaged gradient is the gradient of the whole batch's mean loss: the run equals one
process training on the whole batch (:func:`train_single`), up to the order of float additions.
The backend is ``gloo`` on CPU and ``nccl`` on CUDA GPUs.

One machine, two CPU processes::

    torchrun --standalone --nproc_per_node 2 -m bertcourse.training.distributed --out ddp.pt

Two machines with 8 GPUs each (run on both, ``--node_rank`` 0 on the first, 1 on the second)::

    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 \\
        --rdzv_backend c10d --rdzv_endpoint first-host:29500 \\
        -m bertcourse.training.distributed --backend nccl --out ddp.pt

Taught in book/ch4_training/distributed.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from bertcourse.models.bert import BertConfig, BertModel


class DemoClassifier(nn.Module):
    """A 2-layer BERT (no dropout: every rank would draw other masks than one process does) with a linear head."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        config = BertConfig.preset("tiny", vocab_size=256, hidden_size=64, num_attention_heads=2,
                                   intermediate_size=128, max_position_embeddings=32,
                                   hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        self.bert = BertModel(config)
        self.classifier = nn.Linear(config.hidden_size, 2)

    def forward(self, input_ids):  # (B, T) -> (B, 2)
        return self.classifier(self.bert(input_ids).pooler_output)


def demo_batches(steps: int, batch_size: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` whole batches of random token ids (B, 16) with a learnable label (is token 7 present?)."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(steps):
        ids = torch.randint(0, 256, (batch_size, 16), generator=g)
        batches.append((ids, (ids == 7).any(dim=1).long()))
    return batches


def _step(model, optimizer, ids, labels) -> float:
    optimizer.zero_grad()
    loss = F.cross_entropy(model(ids), labels)  # the mean over this process's examples
    loss.backward()  # under DDP: gradients all-reduced (averaged over ranks) here
    optimizer.step()
    return loss.item()


def train_single(steps: int = 4, batch_size: int = 16, lr: float = 1e-3) -> dict[str, torch.Tensor]:
    """One process, whole batches: the parameters after ``steps`` AdamW steps."""
    model = DemoClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for ids, labels in demo_batches(steps, batch_size):
        _step(model, optimizer, ids, labels)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_data_parallel(steps: int = 4, batch_size: int = 16, lr: float = 1e-3,
                        device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """This rank's share of the data-parallel run (inside a process group); the parameters after it (on CPU).

    ``batch_size`` is the global batch: rank ``r`` of ``W`` takes rows ``[r * B/W, (r + 1) * B/W)``.
    ``device``: "cpu" with gloo; with nccl, this rank's GPU (``cuda:<LOCAL_RANK>``).
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    if batch_size % world:
        raise ValueError(f"batch_size={batch_size} must split evenly over {world} processes")
    local = batch_size // world
    # DDP broadcasts rank 0's parameters to every rank, so all ranks start from the same weights.
    model = DistributedDataParallel(DemoClassifier().to(device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for ids, labels in demo_batches(steps, batch_size):
        rows = slice(rank * local, (rank + 1) * local)
        _step(model, optimizer, ids[rows].to(device), labels[rows].to(device))
    return {k: v.detach().cpu().clone() for k, v in model.module.state_dict().items()}


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between two state dicts with the same keys."""
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch, split over the processes")
    parser.add_argument("--out", type=Path, required=True, help="where rank 0 saves the parameters")
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="gloo",
                        help="gloo: every process on the CPU; nccl: one GPU per process")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one core per process
    device = torch.device("cpu")
    if args.backend == "nccl":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # set by torchrun
        torch.cuda.set_device(device)
    dist.init_process_group(args.backend)  # rank, world size and address come from torchrun's environment
    try:
        state = train_data_parallel(args.steps, args.batch_size, device=device)
        if dist.get_rank() == 0:
            torch.save({"state": state, "world_size": dist.get_world_size(), "backend": args.backend}, args.out)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
