"""Time per batch of pixel Mixup and CutMix: timm's `Mixup`, torchvision's `v2.MixUp` / `v2.CutMix` and textmix.

    python benchmarks/vision.py [--batch 64] [--size 224] [--classes 1000] [--repeats 30]

The same float32 CPU batch (images and integer labels) goes through every implementation, interleaved in one
run (one call of each per round, so drifts of the machine hit all alike); the table gives the median time
per call, targets included. timm's `Mixup` writes into its input, so it gets a clone each call and the
clone is timed with it (the clone alone is the row "clone"). torchvision has only a batch mode. textmix
runs as `Mixer(None, cfg, num_labels=...).mix(batch)`, i.e. in a collate function, with
`partner="flip"` (timm's partners) and `lam_mode` batch / pair / row (timm's elem).

Needs timm and torchvision, which are not dependencies of textmix: install them in a separate
environment (`pip install timm torchvision` pulls its own torch) together with `pip install -e . --no-deps`.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from textmix import MixConfig, Mixer

MODES = {"batch": "batch", "pair": "pair", "elem": "row"}  # timm's name -> textmix's lam_mode


def timer(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    import timm
    import torchvision
    from timm.data import Mixup
    from torchvision.transforms import v2

    g = torch.Generator().manual_seed(0)
    x = torch.randn((args.batch, 3, args.size, args.size), generator=g)
    y = torch.randint(0, args.classes, (args.batch,), generator=g)
    batch = {"pixel_values": x, "labels": y}
    n = args.classes

    cases: dict[tuple[str, str, str], Callable[[], object]] = {("clone", "-", "timm"): lambda: x.clone()}
    for method in ("mixup", "cutmix"):
        alphas = {"mixup_alpha": 1.0, "cutmix_alpha": 0.0} if method == "mixup" else {"mixup_alpha": 0.0, "cutmix_alpha": 1.0}
        for timm_mode, lam_mode in MODES.items():
            mixup = Mixup(**alphas, mode=timm_mode, label_smoothing=0.0, num_classes=n)
            cases[(method, timm_mode, "timm")] = lambda m=mixup: m(x.clone(), y)
            mixer = Mixer(None, MixConfig(method=method, alpha=1.0, lam_mode=lam_mode, partner="flip", seed=0),
                          num_labels=n)
            cases[(method, timm_mode, "textmix")] = lambda m=mixer: m.mix(batch)
        tv = v2.MixUp(alpha=1.0, num_classes=n) if method == "mixup" else v2.CutMix(alpha=1.0, num_classes=n)
        cases[(method, "batch", "torchvision")] = lambda t=tv: t(x, y)

    # what the comparison rests on: textmix leaves its input alone; timm's Mixup does not
    before = x.clone()
    mixed = Mixer(None, MixConfig(method="cutmix", alpha=1.0, partner="flip"), num_labels=n).mix(batch)
    assert torch.equal(x, before) and not torch.equal(mixed.inputs["pixel_values"], x)

    times: dict[tuple[str, str, str], list[float]] = {k: [] for k in cases}
    for r in range(args.warmup + args.repeats):
        for key, fn in cases.items():
            t = timer(fn)
            if r >= args.warmup:
                times[key].append(t)
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}

    print(f"batch {args.batch} x 3 x {args.size} x {args.size} float32, {n} classes, CPU "
          f"({torch.get_num_threads()} threads, {platform.processor() or platform.machine()}), median of "
          f"{args.repeats} interleaved rounds; torch {torch.__version__}, timm {timm.__version__}, "
          f"torchvision {torchvision.__version__}. timm's times include the clone of its input "
          f"({ms[('clone', '-', 'timm')]:.1f} ms).\n")
    print("| method | mode | timm (with clone) | torchvision | textmix | timm / textmix |")
    print("|---|---|---|---|---|---|")
    for method in ("mixup", "cutmix"):
        for mode in MODES:
            t, tm = ms[(method, mode, "timm")], ms[(method, mode, "textmix")]
            tv = ms.get((method, mode, "torchvision"))
            tv_text = f"{tv:.1f} ms" if tv is not None else "(batch only)"
            print(f"| {method} | {mode} | {t:.1f} ms | {tv_text} | {tm:.1f} ms | {t / tm:.1f}x |")


if __name__ == "__main__":
    main()
