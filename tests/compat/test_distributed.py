"""DDP and FSDP2 (`fully_shard`) with 2 gloo processes on the CPU: one launch of
tests/scripts/compat_distributed.py checks every text method under both; each rank draws its own partners and
lambdas (`seed_offset=rank`) and the wrapped step's gradients equal the mean of the unwrapped steps over the
ranks' batches and draws to 1e-5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_distributed import run_two_ranks

from compat.matrix import compat_cells
from compat.steps import TEXT

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compat_distributed.py"
NOTE = ("2 CPU processes (torchrun, gloo), a tiny BERT, each rank its own batch and draws (`seed_offset=rank`): "
        "the rank's draws, mixed inputs and loss equal the unwrapped step's, and the gradients the mean of the "
        "unwrapped steps over both ranks to 1e-5; the ranks' label weights differ.")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("compat_distributed")
    run_two_ranks(SCRIPT, out)
    return [json.loads((out / f"compat_rank{r}.json").read_text()) for r in (0, 1)]


def check(ranks: list[dict], setup: str, method: str) -> None:
    assert ranks[0]["world_size"] == 2
    for rank, result in enumerate(ranks):
        cell = result[setup][method]
        assert cell["ok"], f"rank {rank}: {cell.get('error')}"
    assert ranks[0][setup][method]["lam"] != ranks[1][setup][method]["lam"], "ranks must not share their draws"


@pytest.mark.slow
@compat_cells("DDP (2 processes)", TEXT, note="`DistributedDataParallel` around the model; " + NOTE)
def test_ddp_gradients_equal_the_mean_of_the_unwrapped_steps(ranks, method):
    check(ranks, "DDP", method)


@pytest.mark.slow
@compat_cells("FSDP2 (2 processes)", TEXT, note="`fully_shard` on every layer and the model; " + NOTE)
def test_fsdp2_gradients_equal_the_mean_of_the_unwrapped_steps(ranks, method):
    check(ranks, "FSDP2", method)
