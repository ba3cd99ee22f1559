"""The distributed cells of tests/compat/: run under `torchrun --nproc_per_node 2` (gloo, CPU).

For every text method, one mixed step (the README's loop, tests/compat/steps.py) of a tiny BERT wrapped in
DDP and one with FSDP2 (`fully_shard` on every layer and the root), each rank on its own batch with its own
draws (`seed_offset=rank`). Each rank also computes the reference without the wrapper: the same step of an
unwrapped copy for every rank's batch and draws, whose gradients, averaged over the ranks, the wrapped
step's must equal. Writes `compat_rank{R}.json` into argv[1]: per set-up and method the outcome, this rank's
label weights and the largest gradient difference.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from compat.steps import TEXT, assert_same_step, mixer_for, train_step  # noqa: E402
from conftest import ragged_batch, tiny_model  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6


def wrapped(setup: str):
    model = tiny_model("bert")
    if setup == "DDP":
        return model, torch.nn.parallel.DistributedDataParallel(model)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for layer in model.bert.encoder.layer:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model, model


def full(grad: torch.Tensor) -> torch.Tensor:
    return grad.full_tensor() if hasattr(grad, "full_tensor") else grad


def check(setup: str, method: str, rank: int, world: int) -> dict:
    batches = [ragged_batch(b=6, seed=10 + r) for r in range(world)]
    references = []
    for r in range(world):
        plain = tiny_model("bert")
        with mixer_for(plain, method, seed=3, seed_offset=r) as mixer:
            references.append(train_step(plain, mixer, batches[r]))
    model, forward = wrapped(setup)
    with mixer_for(model, method, seed=3, seed_offset=rank) as mixer:
        got = train_step(model, mixer, batches[rank], forward=forward)
    got.grads = {n: full(g) for n, g in got.grads.items()}
    assert_same_step(got, references[rank], RTOL, ATOL, grads=False)  # this rank's draws, inputs and loss
    mean = {n: sum(ref.grads[n] for ref in references) / world for n in references[0].grads}
    assert got.grads.keys() == mean.keys()
    diff = max(float((got.grads[n] - g).abs().max()) for n, g in mean.items())
    for n, g in mean.items():
        torch.testing.assert_close(got.grads[n], g, rtol=RTOL, atol=ATOL, msg=lambda m, n=n: f"{n}: {m}")
    return {"ok": True, "lam": [round(float(x), 6) for x in got.lam], "max_grad_diff": diff}


def main() -> None:
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    results: dict = {"world_size": world}
    for setup in ("DDP", "FSDP2"):
        for method in TEXT:
            try:
                results.setdefault(setup, {})[method] = check(setup, method, rank, world)
            except Exception:  # recorded, so the test names every failing cell
                results.setdefault(setup, {})[method] = {"ok": False, "error": traceback.format_exc()[-2000:]}
            dist.barrier()
    (out / f"compat_rank{rank}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
