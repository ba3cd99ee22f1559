"""Cost of mixing: a full training step (forward, backward, AdamW) per method against the plain step,
measured interleaved in one run.

    python benchmarks/overhead.py [--model ../shared/models/bert-tiny] [--lengths 64 128] [--repeats 60]
    python benchmarks/overhead.py --compile --lengths 64 --repeats 20   # torch.compile (inductor) steps

Every round runs each variant once, in an order that rotates; a variant's ratio in a round is its
time over the plain step's time in the same round, and the table gives the median of those ratios
with their interquartile range (robust to a machine whose speed drifts). A second plain variant
shows the noise floor. `hidden+clean` and `span+clean` are RegMixup steps (`clean_weight=1`: a clean
forward and backward, then the mixed one, as MixTrainer runs them). A second table gives the time of `mix()` alone and the number of operators
it runs (torch profiler), i.e. where the remaining cost is. Also times hidden Mixup done the MixText way (the lower layers run twice, once for each side of
the pair) against textmix's single pass. Prints a Markdown table; results go in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textmix import MixConfig, Mixer
from textmix.harness.paths import shared_dir
from textmix.masks import union_attention_mask

SHARED = shared_dir()
METHODS = ["embedding", "hidden", "pooled", "span", "saliency_span"]
CLEAN = {"hidden+clean": "hidden", "span+clean": "span"}
"""RegMixup variants (`clean_weight=1`, alpha 20): a clean forward and backward, then the mixed one."""


def sst2_sentences(n: int) -> tuple[list[str], list[int]]:
    with open(SHARED / "data/glue/SST-2/train.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:n]
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


def additive_mask(mask: torch.Tensor) -> torch.Tensor:
    return ((1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min)


def two_pass_hidden_step(model, batch, layer: int, gen: torch.Generator):
    """MixText-style hidden Mixup on BERT: layers <= k run separately for the row and its partner."""
    b = batch["input_ids"].shape[0]
    perm = torch.randperm(b, generator=gen)
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    bert = model.bert
    ext = additive_mask(batch["attention_mask"])

    def lower(ids, types, mask):
        h = bert.embeddings(input_ids=ids, token_type_ids=types)
        for module in bert.encoder.layer[:layer]:
            h = module(h, mask)
        return h

    h_a = lower(batch["input_ids"], batch["token_type_ids"], ext)
    h_b = lower(batch["input_ids"][perm], batch["token_type_ids"][perm], ext[perm])  # the second pass
    h = lam * h_a + (1 - lam) * h_b
    union = union_attention_mask(batch["attention_mask"], perm, torch.ones(b, dtype=torch.bool))
    ext_u = additive_mask(union)
    for module in bert.encoder.layer[layer:]:
        h = module(h, ext_u)
    logits = model.classifier(model.dropout(bert.pooler(h)))
    targets = torch.nn.functional.one_hot(batch["labels"], 2).float()
    targets = lam * targets + (1 - lam) * targets[perm]
    return -(targets * logits.log_softmax(-1)).sum(-1).mean()


def measure(model, optimizer, mixers, batch, layer, gen, warmup, repeats) -> dict[str, list[float]]:
    """Seconds per training step of every variant, in rounds that rotate their order."""
    plain_inputs = {k: v for k, v in batch.items() if k != "labels"}

    def plain():
        torch.nn.functional.cross_entropy(model(**plain_inputs).logits, batch["labels"]).backward()

    def mixed(mixer):
        eta = mixer.config.clean_weight

        def step():
            if eta > 0 or mixer.next_needs_saliency:  # as MixTrainer: clean pass, then the mixed one
                clean = mixer.clean(batch)
                clean.loss(model(**clean.inputs).logits).backward()
            mb = mixer.mix(batch)
            ((eta if eta > 0 else 1.0) * mb.loss(model(**mb.inputs).logits)).backward()

        return step

    variants = {"plain": plain, "plain (control: same step again)": plain}
    variants.update({m: mixed(mixer) for m, mixer in mixers.items()})
    variants["hidden (two-pass, MixText-style)"] = lambda: two_pass_hidden_step(model, batch, layer, gen).backward()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(warmup + repeats):
        names = list(variants)
        names = names[r % len(names):] + names[: r % len(names)]  # rotate the order every round
        for name in names:
            optimizer.zero_grad(set_to_none=True)
            mixer = mixers.get(name)
            if mixer is not None:
                mixer.attach()  # hooks stay attached for a whole run in practice: not timed
            start = time.perf_counter()
            variants[name]()
            optimizer.step()
            elapsed = time.perf_counter() - start
            if mixer is not None:
                mixer.detach()
            if r >= warmup:
                times[name].append(elapsed)
    return times


def measure_compiled(model, mixers, tokenizer, batch, warmup, repeats) -> dict[str, list[float]]:
    """Seconds per training step of every variant with the model compiled (inductor), in rotating rounds as
    `measure`. Every variant has its own copy of the model, compiled, with its mixer attached for the whole
    run (hooks that came and went between rounds would invalidate the compiled code)."""
    import copy

    torch._dynamo.config.recompile_limit = 64  # one graph or a few per variant, all in one process
    # the copies share BertForSequenceClassification.forward's compiled code: guard on their hooks, else a
    # variant would run the graph compiled for another copy (Dynamo skips hook guards by default)
    torch._dynamo.config.skip_nnmodule_hook_guards = False
    plain_inputs = {k: v for k, v in batch.items() if k != "labels"}
    variants = {}
    for name in ["plain", "plain (control: same step again)", *mixers]:
        copy_ = copy.deepcopy(model)
        compiled = torch.compile(copy_)
        optimizer = torch.optim.AdamW(copy_.parameters(), lr=1e-5)
        mixer = mixers.get(name)
        if mixer is None:
            def step(compiled=compiled):
                torch.nn.functional.cross_entropy(compiled(**plain_inputs).logits, batch["labels"]).backward()
        else:
            mixer = Mixer(copy_, mixer.config, tokenizer=tokenizer)
            mixer.attach()

            def step(compiled=compiled, mixer=mixer):
                eta = mixer.config.clean_weight
                if eta > 0 or mixer.next_needs_saliency:
                    clean = mixer.clean(batch)
                    clean.loss(compiled(**clean.inputs).logits).backward()
                mb = mixer.mix(batch)
                ((eta if eta > 0 else 1.0) * mb.loss(compiled(**mb.inputs).logits)).backward()
        variants[name] = (step, optimizer)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(warmup + repeats):  # the warm-up rounds compile
        names = list(variants)
        for name in names[r % len(names):] + names[: r % len(names)]:
            step, optimizer = variants[name]
            optimizer.zero_grad(set_to_none=True)
            start = time.perf_counter()
            step()
            optimizer.step()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def mix_alone(mixers, batch, model, repeats: int) -> list[tuple[str, float, int]]:
    """Median time of `mix()` alone (ms) and the operators one call runs, per method."""
    from torch.profiler import ProfilerActivity, profile

    rows = []
    for name, mixer in mixers.items():
        with mixer:
            if mixer.next_needs_saliency:
                clean = mixer.clean(batch)
                clean.loss(model(**clean.inputs).logits).backward()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                mixer.mix(batch)
            ops = sum(1 for e in prof.events() if e.cpu_parent is None)
            ts = []
            for _ in range(repeats):
                if mixer.next_needs_saliency:
                    clean = mixer.clean(batch)
                    clean.loss(model(**clean.inputs).logits).backward()
                start = time.perf_counter()
                mixer.mix(batch)
                ts.append(time.perf_counter() - start)
        rows.append((name, statistics.median(ts) * 1000, ops))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHARED / "models/bert-tiny"))
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=[*METHODS, *CLEAN],
                        help=f"variants to time besides the plain step (default all: {[*METHODS, *CLEAN]})")
    parser.add_argument("--compile", action="store_true",
                        help="time the steps of the model compiled with torch.compile (inductor) instead: compiled "
                             "mixed step / compiled plain step (the MixText-style row and mix() alone are left out)")
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    layer = model.config.num_hidden_layers // 2 or 1
    mixers = {m: Mixer(model, MixConfig(method=CLEAN.get(m, m), alpha=20.0 if m in CLEAN else 0.4, layers=(layer,),
                                        clean_weight=1.0 if m in CLEAN else 0.0, seed=0), tokenizer=tokenizer)
              for m in args.methods}
    sentences, labels = sst2_sentences(args.batch_size)
    gen = torch.Generator().manual_seed(0)
    print(f"model {args.model}, batch {args.batch_size}, hidden layer {layer}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    rows, alone = [], []
    for length in args.lengths:
        batch = dict(tokenizer(sentences, padding="max_length", truncation=True, max_length=length,
                               return_tensors="pt"))
        batch["labels"] = torch.tensor(labels)
        if args.compile:
            times = measure_compiled(model, mixers, tokenizer, batch, args.warmup, args.repeats)
        else:
            times = measure(model, optimizer, mixers, batch, layer, gen, args.warmup, args.repeats)
        plain = times["plain"]
        for name, ts in times.items():
            ratios = [t / p for t, p in zip(ts, plain, strict=True)]
            q = statistics.quantiles(ratios, n=4)
            rows.append((length, name, statistics.median(ts) * 1000, statistics.median(ratios), q[0], q[2]))
        if not args.compile:
            alone += [(length, *row) for row in mix_alone(mixers, batch, model, args.repeats)]
    print(f"\n| length | method | median step (ms){' (compiled, inductor)' if args.compile else ''} "
          "| / plain step (median of per-round ratios) | IQR |")
    print("|---|---|---|---|---|")
    for length, name, ms, ratio, lo, hi in rows:
        print(f"| {length} | {name} | {ms:.1f} | {ratio:.3f} | {lo:.3f}-{hi:.3f} |")
    if alone:
        print("\n| length | method | mix() alone (ms) | operators per mix() |\n|---|---|---|---|")
    for length, name, ms, ops in alone:
        print(f"| {length} | {name} | {ms:.2f} | {ops} |")


if __name__ == "__main__":
    main()
