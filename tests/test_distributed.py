"""MixTrainer under torchrun with 2 CPU processes (gloo): each rank mixes with its own seed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "scripts" / "ddp_mix.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_ranks(script: Path, out: Path) -> None:
    """`script out` under torchrun with 2 CPU processes (gloo); fails with the end of their stderr."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           str(script), str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def launch(out: Path) -> list[dict]:
    run_two_ranks(SCRIPT, out)
    return [json.loads((out / f"lams_rank{r}.json").read_text()) for r in (0, 1)]


# Once flaky (3 in 31; rank 0 aborted at exit: "terminate called without an active exception"): the finished
# Trainer kept the gloo process group alive past destroy_process_group(); ddp_mix.py now frees it first
# (textmix.harness.recipes.common.shutdown_distributed). Verified on the 2-core machine with a shell loop of
# 50 fresh `python -m pytest -q tests/test_distributed.py::test_two_ranks_draw_different_reproducible_lambdas`
# runs: 50 passed in a row (each launches torchrun twice: 100 two-rank runs).
def test_two_ranks_draw_different_reproducible_lambdas(tmp_path):
    first = launch(tmp_path / "a")
    assert first[0]["world_size"] == 2
    assert first[0]["lams"] != first[1]["lams"], "ranks must not share their mixing draws"
    second = launch(tmp_path / "b")
    assert [r["lams"] for r in first] == [r["lams"] for r in second]
    assert first[0]["losses"] == second[0]["losses"]
