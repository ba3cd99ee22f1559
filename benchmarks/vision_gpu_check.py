"""The image methods on a CUDA device: the same draws and pixels as the per-row reference, no host
synchronisation inside `mix()`, patch CutMix on a tiny ViT, and timings against timm and torchvision.

    PYTHONPATH=. python benchmarks/vision_gpu_check.py        (on a machine with CUDA; timm/torchvision optional)
    PYTHONPATH=. python benchmarks/vision_gpu_check.py --device cpu --tiny    (a dry run: same code, toy sizes;
                                                                              the no-sync check needs CUDA)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from image_oracles import reference_draws, reference_images  # noqa: E402

from textmix import MixConfig, Mixer  # noqa: E402
from textmix import image as ops  # noqa: E402

dev = torch.device("cuda")
"""The device of every check (`--device`)."""


def sync() -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def sync_debug(mode: str) -> None:
    """CUDA's sync debug mode ("error": any host synchronisation raises); nothing to set on the CPU."""
    if dev.type == "cuda":
        torch.cuda.set_sync_debug_mode(mode)


def check_draws_and_pixels() -> None:
    configs = [dict(method=m, lam_mode=mode, partner=p, prob_per_row=ppr, prob=0.7 if ppr else 1.0)
               for m in ("mixup", "cutmix", "mixup:1,cutmix:1") for mode in ("batch", "row", "pair")
               for p in ("flip", "permute") for ppr in (False, True)]
    syncs = 0
    for i, kw in enumerate(configs):
        cfg = MixConfig(alpha=1.0, seed=i, **kw)
        g = torch.Generator().manual_seed(i)
        x = torch.randn((9, 3, 20, 16), generator=g).to(dev)
        y = torch.randint(0, 5, (9,), generator=g).to(dev)
        mixer = Mixer(None, cfg, num_labels=5)
        mixer.mix({"pixel_values": x, "labels": y})  # first call creates the generator
        mixer_state = mixer.state_dict()
        state = mixer_state["devices"][str(x.device)]
        sync()
        sync_debug("error")  # any host synchronisation inside mix() raises
        try:
            mixer.mix({"pixel_values": x, "labels": y})
        except RuntimeError as err:
            syncs += 1
            print(f"host synchronisation in mix() with {kw}: {traceback.format_exc(limit=-3)} {err}")
        finally:
            sync_debug("default")
        mixer.load_state_dict(mixer_state)
        mb = mixer.mix({"pixel_values": x, "labels": y})
        gen = torch.Generator(device=dev)
        gen.set_state(state)
        perm, lam, blend, boxes = reference_draws(cfg, mixer.methods, mb.method, mb.valid, (20, 16), gen)
        assert mb.perm.tolist() == perm and mb.boxes.tolist() == [list(b) for b in boxes], kw
        assert max(abs(a - b) for a, b in zip(mb.lam.tolist(), lam, strict=True)) < 1e-6, kw
        expected = reference_images(x.cpu(), perm, blend, boxes)
        torch.testing.assert_close(mb.inputs["pixel_values"].cpu(), expected, rtol=1e-6, atol=1e-6)
    checked = syncs if dev.type == "cuda" else "not checked (needs CUDA)"
    print(f"draws and pixels on {dev.type} match the per-row reference: {len(configs)} configurations; "
          f"host synchronisations inside mix(): {checked}")


def check_patch_cutmix() -> None:
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=32, patch_size=4, num_channels=3, hidden_size=32,
                                                num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                                                num_labels=5, hidden_dropout_prob=0.0,
                                                attention_probs_dropout_prob=0.0)).to(dev).train()
    x = torch.randn((8, 3, 32, 32), device=dev)
    y = torch.randint(0, 5, (8,), device=dev)
    mixer = Mixer(model, MixConfig(method="patch_cutmix", alpha=1.0, lam_mode="row", seed=0))
    with mixer:
        mb = mixer.mix({"pixel_values": x, "labels": y})
        with torch.no_grad():
            logits = model(**mb.inputs).logits
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            mb16 = mixer.mix({"pixel_values": x, "labels": y})
            loss = mb16.loss(model(**mb16.inputs).logits)
        loss.backward()
    boxes = [(a * 4, b * 4, c * 4, d * 4) for a, b, c, d in mb.boxes.tolist()]
    pixels = reference_images(x.cpu(), mb.perm.tolist(), [1.0] * 8, boxes).to(dev)
    with torch.no_grad():
        expected = model(pixel_values=pixels).logits
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(mb.lam, ops.kept_fraction(mb.boxes, (8, 8))) and torch.isfinite(loss)
    print(f"patch_cutmix on {dev.type} equals patch-aligned pixel CutMix (max diff "
          f"{(logits - expected).abs().max().item():.2e}); bf16 autocast loss {loss.item():.4f}")


def timings(batch_size: int = 64, side: int = 224, rounds: int = 45, warmup: int = 5) -> None:
    x = torch.randn((batch_size, 3, side, side), device=dev)
    y = torch.randint(0, 1000, (batch_size,), device=dev)
    batch = {"pixel_values": x, "labels": y}
    cases = {}
    try:
        from timm.data import Mixup
        from torchvision.transforms import v2
    except ImportError:
        Mixup = v2 = None
    for method in ("mixup", "cutmix"):
        for mode, lam_mode in (("batch", "batch"), ("pair", "pair"), ("elem", "row")):
            m = Mixer(None, MixConfig(method=method, alpha=1.0, lam_mode=lam_mode, partner="flip"), num_labels=1000)
            cases[(method, mode, "textmix")] = lambda m=m: m.mix(batch)
            if Mixup is not None:
                a = {"mixup_alpha": 1.0, "cutmix_alpha": 0.0} if method == "mixup" else {"mixup_alpha": 0.0,
                                                                                          "cutmix_alpha": 1.0}
                t = Mixup(**a, mode=mode, label_smoothing=0.0, num_classes=1000)
                cases[(method, mode, "timm")] = lambda t=t: t(x.clone(), y)
        if v2 is not None:
            tv = v2.MixUp(alpha=1.0, num_classes=1000) if method == "mixup" else v2.CutMix(alpha=1.0, num_classes=1000)
            cases[(method, "batch", "torchvision")] = lambda tv=tv: tv(x, y)
    cases[("clone", "-", "-")] = lambda: x.clone()
    times = {k: [] for k in cases}
    for r in range(rounds + warmup):
        for k, fn in cases.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if r >= warmup:
                times[k].append(1000 * (time.perf_counter() - t0))
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"
    print(f"\n{name}, torch {torch.__version__}: median ms per call, {batch_size} x 3 x {side} x {side} float32")
    print("| method | mode | timm (with clone) | torchvision | textmix |\n|---|---|---|---|---|")
    for method in ("mixup", "cutmix"):
        for mode in ("batch", "pair", "elem"):
            cell = {impl: times.get((method, mode, impl)) for impl in ("timm", "torchvision", "textmix")}
            text = [f"{statistics.median(v):.2f}" if v else "-" for v in cell.values()]
            print(f"| {method} | {mode} | " + " | ".join(text) + " |")
    print(f"clone: {statistics.median(times[('clone', '-', '-')]):.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run")
    parser.add_argument("--tiny", action="store_true", help="toy timing sizes (a dry run: 4 x 3 x 32 x 32, 2 rounds)")
    args = parser.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device (a dry run on the CPU: --device cpu --tiny)")
    check_draws_and_pixels()
    check_patch_cutmix()
    timings(*((4, 32, 2, 1) if args.tiny else ()))
