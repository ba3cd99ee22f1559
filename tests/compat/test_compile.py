"""torch.compile: a compiled model mixes exactly as the eager one (same draws) and compiles once per kind of
step: after warm-up (the first step of each method and layer drawn), fresh draws recompile nothing."""

from __future__ import annotations

import pytest
import torch
from conftest import ragged_batch, tiny_model
from torch._dynamo.utils import counters

from compat.matrix import compat_cells
from compat.steps import TEXT, mixer_for, train_step

STEPS = 10
TOLERANCE = {"aot_eager": dict(rtol=1e-5, atol=1e-6), "inductor": dict(rtol=1e-4, atol=1e-5)}
"""aot_eager runs the eager kernels (differences are reordering only); inductor fuses them."""


def compiled_equals_eager(method: str, backend: str, steps: int = STEPS, **config) -> None:
    config.setdefault("layers", (1, 2))  # both layers of the tiny model: layer 1 runs a layer on the union mask
    eager, base = (tiny_model("bert", seed=0, num_hidden_layers=2) for _ in range(2))
    compiled = torch.compile(base, backend=backend)
    runs = [(eager, eager, mixer_for(eager, method, seed=3, overrides=config)),
            (compiled, base, mixer_for(base, method, seed=3, overrides=config))]
    optimizers = [torch.optim.SGD(params.parameters(), lr=0.5) for _, params, _ in runs]
    torch._dynamo.reset()
    counters.clear()
    seen, after_warmup = set(), 0
    with runs[0][2], runs[1][2]:
        for s in range(steps):
            batch = ragged_batch(seed=100 + s)  # fresh tokens, lengths and draws every step; one shape
            mb, frames = train_step(eager, runs[0][2], batch), counters["frames"]["total"]
            cmb = train_step(compiled, runs[1][2], batch)
            assert (cmb.method, cmb.layer) == (mb.method, mb.layer)
            torch.testing.assert_close(cmb.loss, mb.loss, **TOLERANCE[backend])
            key = (mb.method, mb.layer)
            if key in seen:  # warmed up: this kind of step compiled before
                after_warmup += 1
                assert counters["frames"]["total"] == frames, f"step {s} ({key}) recompiled"
            seen.add(key)
            for optimizer in optimizers:
                optimizer.step()
                optimizer.zero_grad()
    assert after_warmup >= 8, f"only {after_warmup} steps after warm-up (kinds {seen})"
    for p, q in zip(eager.parameters(), base.parameters(), strict=True):
        torch.testing.assert_close(q, p, **TOLERANCE[backend])


@compat_cells("torch.compile (aot_eager)", TEXT,
              note="`torch.compile(model, backend=\"aot_eager\")` on a tiny BERT, 10 steps of fresh batches and draws: "
                   "each step's loss and the final weights equal the eager model's (same draws) to 1e-5, and a step of "
                   "a kind (method, layer) compiled before compiles nothing (Dynamo's frame counter; ≥ 8 such steps).")
def test_compiled_steps_equal_eager_and_never_recompile(method):
    compiled_equals_eager(method, "aot_eager")


@compat_cells("torch.compile (inductor)", ["hidden"], marks=pytest.mark.slow,
              note="The same with CPU inductor, 9 steps of one layer choice, to 1e-4.")
def test_inductor_compiled_hidden_equals_eager_and_never_recompiles(method):
    compiled_equals_eager(method, "inductor", steps=9, layers=(1,))


def test_hooks_attached_after_the_first_compiled_forward_are_an_error_naming_the_fix():
    """Dynamo does not guard on module hooks: a graph compiled before the mixer attached runs without them."""
    model = tiny_model("bert", num_hidden_layers=2)
    compiled = torch.compile(model, backend="aot_eager")
    torch._dynamo.reset()
    batch = ragged_batch()
    compiled(**{k: v for k, v in batch.items() if k != "labels"})
    with mixer_for(model, "pooled") as mixer:
        mb = mixer.mix(batch)
        logits = compiled(**mb.inputs).logits
        with pytest.raises(RuntimeError, match="before the compiled model's first forward"):
            mb.loss(logits)
