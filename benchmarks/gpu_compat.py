"""The GPU-only cells of the compatibility matrix (docs/compatibility.md has the CPU ones), as a Markdown
table of cell -> result; exit status 1 when a cell fails.

    python benchmarks/gpu_compat.py [--device cpu] [--tiny]

1. CUDA fp16 autocast + GradScaler: for every text method, a tiny BERT's step (tests/compat/steps.py) with
   fp16 autocast and a GradScaler's scaled backward equals the fp32 step with the same draws (loss and label
   weights to 2e-2, the unscaled gradients within 5 % of their norm), and the scaler found no inf/NaN.
2. CUDA `torch.compile` (inductor): embedding and hidden Mixup, the compiled step equals the eager one to
   1e-4 over 4 steps of fresh draws, and Dynamo compiles no graph after the first step (no recompiles).
3. Packed (padding-free) batches on a decoder with flash-attention (`cu_seqlens`) where `flash_attn` is
   installed, else SDPA: `DataCollatorWithFlattening` rows, one label per sequence. Either outcome of issue 25
   passes — refused with an error before the first step, or mixed per sequence — and the table says which;
   a batch returned silently unmixed is a failure.

`--device cpu --tiny` runs the same code on the CPU (a dry run: fp16 autocast on the CPU, compile with Dynamo's
`eager` backend — its graph capture and guards, so recompiles show, without compiling kernels — SDPA); it says
only that the code runs, and whether the step recompiles.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from compat.steps import TEXT, assert_same_step, mixer_for, train_step  # noqa: E402
from conftest import ragged_batch, tiny_model  # noqa: E402

RESULTS: list[tuple[str, str, str]] = []  # (cell, method, result)
FAILED: list[str] = []


def record(cell: str, method: str, fn) -> None:
    """Run one cell; its result (or the error's last line) goes into the table."""
    try:
        result = fn()
    except Exception as err:  # noqa: BLE001 - every failure is a row of the table
        traceback.print_exc()
        result = f"FAIL: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
        FAILED.append(f"{cell} / {method}")
    RESULTS.append((cell, method, result))
    print(f"{cell} | {method} | {result}", flush=True)


def on(batch: dict, dev: torch.device) -> dict:
    return {k: v.to(dev) for k, v in batch.items()}


def fp16_scaler(method: str, dev: torch.device) -> str:
    batch = on(ragged_batch(b=6, seed=1), dev)
    model = tiny_model("bert").to(dev)
    with mixer_for(model, method, seed=3) as mixer:
        want = train_step(model, mixer, batch)
    model = tiny_model("bert").to(dev)
    scaler = torch.amp.GradScaler(dev.type)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with mixer_for(model, method, seed=3) as mixer:
        got = train_step(model, mixer, batch, autocast=torch.float16, backward=lambda loss: scaler.scale(loss).backward())
    scale = scaler.get_scale()
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    assert scaler.get_scale() == scale, "the GradScaler found inf/NaN gradients"
    got.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    assert got.logits_dtype == torch.float16
    assert_same_step(got, want, 2e-2, 2e-2, grad_norm_rtol=5e-2)
    return "✓ equals the fp32 step (loss 2e-2, gradients 5 %), no inf"


def compiled(method: str, dev: torch.device, backend: str, steps: int = 4) -> str:
    from torch._dynamo.utils import counters

    batches = [on(ragged_batch(b=6, seed=s), dev) for s in range(steps)]
    eager = tiny_model("bert").to(dev)
    model = tiny_model("bert").to(dev)
    torch._dynamo.reset()
    compiled_model = torch.compile(model, backend=backend)
    with mixer_for(eager, method, seed=3) as ref, mixer_for(model, method, seed=3) as mixer:
        for i, batch in enumerate(batches):
            want = train_step(eager, ref, batch)
            got = train_step(model, mixer, batch, forward=compiled_model)
            assert_same_step(got, want, 1e-4, 1e-4)
            if i == 0:
                first = counters["stats"]["unique_graphs"]
    later = counters["stats"]["unique_graphs"] - first
    assert later == 0, f"equal to eager, but {later} graphs compiled after the first step: it recompiles ({backend})"
    return f"✓ equals eager over {steps} steps ({backend}), no recompile after the first step"


def packed(method: str, dev: torch.device) -> str:
    import importlib.util

    from transformers import AutoConfig, AutoModelForSequenceClassification, DataCollatorWithFlattening

    flash = dev.type == "cuda" and importlib.util.find_spec("flash_attn") is not None
    attn = "flash_attention_2" if flash else "sdpa"
    config = AutoConfig.for_model("llama", vocab_size=60, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                                  num_attention_heads=2, num_key_value_heads=1, head_dim=16, num_labels=3,
                                  pad_token_id=0, bos_token_id=1, eos_token_id=2, attn_implementation=attn)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).to(dev).train()
    if flash:
        model = model.to(torch.bfloat16)
    g = torch.Generator().manual_seed(0)
    rows = [[1] + torch.randint(3, 60, (n,), generator=g).tolist() + [2] for n in (5, 8, 3, 6)]
    batch = DataCollatorWithFlattening(return_position_ids=True, return_flash_attn_kwargs=flash)(
        [{"input_ids": r} for r in rows])
    batch["labels"] = torch.tensor([0, 1, 2, 1])
    batch = on(batch, dev)
    try:
        with mixer_for(model, method, seed=3) as mixer:
            mb = mixer.mix(batch)
            logits = model(**mb.inputs).logits
            loss = mb.loss(logits)
    except (ValueError, RuntimeError) as err:
        return f"refused ({attn}): {str(err).splitlines()[0][:200]}"
    mixed = int((mb.lam < 1).sum())
    assert mixed > 0, f"the packed batch came back unmixed without an error ({attn}): mix_share 0 in silence"
    assert torch.isfinite(loss)
    return f"mixed per sequence ({attn}): {mixed} of {mb.lam.numel()} sequences mixed, loss {float(loss):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run")
    parser.add_argument("--tiny", action="store_true", help="a dry run: compile with Dynamo's eager backend (fast)")
    args = parser.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device (a dry run on the CPU: --device cpu --tiny)")
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU (dry run)"
    backend = "eager" if args.tiny else "inductor"  # eager: Dynamo's capture and guards (recompiles) only
    for method in TEXT:
        record("fp16 autocast + GradScaler", method, lambda m=method: fp16_scaler(m, dev))
    for method in ("embedding", "hidden", "span"):
        record("packed batch (cu_seqlens)", method, lambda m=method: packed(m, dev))
    for method in ("embedding", "hidden"):  # last: compiling takes the longest (each row prints when done)
        record("torch.compile", method, lambda m=method: compiled(m, dev, backend))
    print(f"\n### GPU-only compatibility cells: {name}, torch {torch.__version__}\n")
    print("| cell | method | result |\n|---|---|---|")
    for cell, method, result in RESULTS:
        print(f"| {cell} | `{method}` | {result} |")
    if FAILED:
        sys.exit(f"failed cells: {', '.join(FAILED)}")


if __name__ == "__main__":
    main()
