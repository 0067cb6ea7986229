"""Two CPU processes with gloo, launched by torchrun, end with the parameters of one process at the doubled batch."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from bertcourse.training.distributed import max_difference, train_single


def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "bertcourse.training.distributed", "--steps", "3", "--batch-size", "16", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    saved = torch.load(out, weights_only=True)
    assert saved["world_size"] == 2 and saved["backend"] == "gloo"
    single = train_single(steps=3, batch_size=16)
    assert max_difference(saved["state"], single) < 1e-6
    # ...and the run did train: the parameters moved from their initial values.
    assert max_difference(single, train_single(steps=0)) > 1e-4
