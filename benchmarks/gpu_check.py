"""Checks and timings on a CUDA GPU (run where one is available; the test suite covers the CPU).

    python benchmarks/gpu_check.py [--model PATH_TO_BERT_TINY] [--random_init] [--decoder CONFIG_JSON]

1. Every text method on tiny BERT / RoBERTa / DeBERTa-v2 configs on the GPU matches the same
   oracles as the CPU tests (hand-mixed inputs_embeds; two-pass replay for hidden Mixup).
2. `mix()` of every text method makes no host-device synchronisation (CUDA sync debug mode "error").
3. bf16 autocast on the GPU trains (finite loss, gradients).
4. With --model: median training-step time per method / plain step on the GPU (batch 32, length 128),
   for that model (pretrained, or with --random_init its config randomly initialised) and a randomly
   initialised BERT-base of the same vocabulary.
5. With --decoder (a Llama-family config.json, e.g. SmolLM2-135M's): the same step ratios for a randomly
   initialised decoder-only classifier of that shape, left padding, bf16 autocast, every text method
   whose Mixer accepts the model.

`--device cpu --tiny` runs the same code end to end on a CPU at toy sizes (a dry run of the GPU script:
the no-sync check needs CUDA and is skipped there; its timings mean nothing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from oracles import embedding_oracle, modules_of, replace_oracle  # noqa: E402

from textmix import MixConfig, Mixer  # noqa: E402

SPECIAL = [0, 1, 2]
DEV = torch.device("cuda")
"""The device of every check (`--device`)."""


def sync() -> None:
    """Wait for the device (a no-op on the CPU)."""
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def device_name() -> str:
    return torch.cuda.get_device_name() if DEV.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"


def tiny(model_type: str):
    extra = {"roberta": {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}, "deberta-v2": {
        "relative_attention": True, "position_biased_input": False, "pos_att_type": ["p2c", "c2p"],
        "max_relative_positions": 16, "pooler_dropout": 0.0, "pooler_hidden_size": 32}}.get(model_type, {})
    cfg = AutoConfig.for_model(model_type, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                               intermediate_size=37, vocab_size=120, max_position_embeddings=64,
                               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3, **extra)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(cfg).to(DEV).train()


def batch(b=6, length=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((b, length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i in range(b):
        n = int(torch.randint(3, length + 1, (1,), generator=g))
        ids[i, :n] = torch.randint(3, 120, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = 1, 2
        mask[i, :n] = 1
    return {"input_ids": ids.to(DEV), "attention_mask": mask.to(DEV), "labels": torch.randint(0, 3, (b,)).to(DEV)}


def check_oracles() -> None:
    for arch in ("bert", "roberta", "deberta-v2"):
        model = tiny(arch)
        data = batch(seed=1)
        for method in ("embedding", "hidden", "pooled"):
            mixer = Mixer(model, MixConfig(method=method, alpha=1.0, layers=[2], seed=0))
            with mixer:
                mb = mixer.mix(data)
                assert mb.perm.device.type == DEV.type and mb.lam.device.type == DEV.type
                with torch.no_grad():
                    logits = model(**mb.inputs).logits
            if method == "embedding":
                expected = embedding_oracle(model, data, mb.perm, mb.lam)
            elif method == "hidden":
                expected = replace_oracle(model, data, modules_of(model).layers[1], mb.perm, mb.lam)
            else:
                expected = replace_oracle(model, data, modules_of(model).head, mb.perm, mb.lam, pre=True, union=False)
            torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
            print(f"oracle ok: {arch} {method} (max |diff| {float((logits - expected).abs().max()):.2e})")


def check_no_sync() -> None:
    if DEV.type != "cuda":
        print("no-sync check skipped: it needs CUDA's sync debug mode (tests/test_no_sync.py covers the CPU)")
        return
    model = tiny("bert")
    data = batch(seed=2)
    for method in ("embedding", "hidden", "pooled", "span", "saliency_span"):
        mixer = Mixer(model, MixConfig(method=method, alpha=0.4, layers=[1, 2], seed=0), special_token_ids=SPECIAL)
        with mixer:
            for step in range(2):  # the first creates the generators; the second is checked
                if mixer.next_needs_saliency:
                    clean = mixer.clean(data)
                    clean.loss(model(**clean.inputs).logits).backward()
                _ = mixer.next_method  # the plan is drawn from the CPU generator
                torch.cuda.synchronize()
                if step:
                    torch.cuda.set_sync_debug_mode("error")
                try:
                    mixer.mix(data)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
        print(f"no host-device sync in mix(): {method}")


def check_bf16() -> None:
    model = tiny("bert")
    data = batch(seed=3)
    for method in ("embedding", "hidden", "pooled", "span"):
        mixer = Mixer(model, MixConfig(method=method, alpha=1.0, layers=[1], seed=0), special_token_ids=SPECIAL)
        with mixer, torch.autocast(DEV.type, dtype=torch.bfloat16):
            mb = mixer.mix(data)
            loss = mb.loss(model(**mb.inputs).logits)
        loss.backward()
        assert torch.isfinite(loss)
        print(f"bf16 autocast ok: {method} loss {float(loss.detach()):.4f}")


TEXT_METHODS = ("embedding", "hidden", "pooled", "span", "saliency_span")
"""The mixing methods timed (the registry's text methods; each needs no more than the batch and special ids)."""


@dataclass
class Sizes:
    """Batch, length and repeats of a timing (`--tiny`: toy sizes for a CPU dry run)."""

    batch: int = 32
    length: int = 128
    repeats: int = 30
    warmup: int = 3
    toy_models: bool = False
    """Shrink BERT-base and the decoder to 2 layers, hidden 64 (a dry run)."""


def time_variants(model, data: dict, mixers: dict, sizes: Sizes, autocast: torch.dtype | None) -> dict[str, list[float]]:
    """Seconds per training step (forward, backward, AdamW) of the plain step, a control (the plain step
    again) and each mixer's step, interleaved round by round; the device is synchronised around each step."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    plain_inputs = {k: v for k, v in data.items() if k != "labels"}

    def loss_of(fn):
        if autocast is None:
            return fn()
        with torch.autocast(DEV.type, dtype=autocast):
            return fn()

    def plain():
        loss_of(lambda: torch.nn.functional.cross_entropy(model(**plain_inputs).logits.float(), data["labels"])).backward()

    def mixed(mixer):
        def step():
            if mixer.next_needs_saliency:
                clean = mixer.clean(data)
                loss_of(lambda: clean.loss(model(**clean.inputs).logits)).backward()
            mb = mixer.mix(data)
            loss_of(lambda: mb.loss(model(**mb.inputs).logits)).backward()
        return step

    variants = {"plain": plain, "plain (control)": plain, **{m: mixed(x) for m, x in mixers.items()}}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(sizes.repeats + sizes.warmup):
        for name in variants:
            mixer = mixers.get(name)
            if mixer:
                mixer.attach()
            opt.zero_grad(set_to_none=True)
            sync()
            start = time.perf_counter()
            variants[name]()
            opt.step()
            sync()
            if r >= sizes.warmup:
                times[name].append(time.perf_counter() - start)
            if mixer:
                mixer.detach()
    return times


def print_table(title: str, times: dict[str, list[float]], skipped: dict[str, str] | None = None) -> None:
    """The Markdown table of median step times and ratios to the plain step (the goals' measure)."""
    base = statistics.median(times["plain"])
    print(f"\n{device_name()}, torch {torch.__version__} | {title}")
    print("| method | median step (ms) | / plain |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts) * 1000:.2f} | {statistics.median(ts) / base:.3f} |")
    for name, reason in (skipped or {}).items():
        print(f"| {name} | – | skipped: {reason} |")


def time_steps(path: str, sizes: Sizes, base_size: bool = False, random_init: bool = False) -> None:
    """Step ratios with the model at `path` (pretrained, or `random_init`: its config, randomly initialised),
    or (`base_size`) a randomly initialised BERT-base of the same vocabulary; fp32."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    if base_size:
        config = AutoConfig.for_model("bert", vocab_size=tokenizer.vocab_size, num_labels=2)  # 12 x 768
        if sizes.toy_models:  # --tiny: the same code at a toy size
            config = AutoConfig.for_model("bert", vocab_size=tokenizer.vocab_size, num_labels=2, hidden_size=64,
                                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
        model = AutoModelForSequenceClassification.from_config(config)
    elif random_init:
        model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(path, num_labels=2))
    else:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model = model.to(DEV).train()
    texts = [f"sentence {i} " + "word " * (5 + 3 * i) for i in range(sizes.batch)]
    data = dict(tokenizer(texts, padding="max_length", max_length=sizes.length, truncation=True, return_tensors="pt"))
    data = {k: v.to(DEV) for k, v in data.items()}
    data["labels"] = (torch.arange(sizes.batch) % 2).to(DEV)
    mixers = {m: Mixer(model, MixConfig(method=m, layers=[model.config.num_hidden_layers // 2], seed=0),
                       tokenizer=tokenizer)
              for m in TEXT_METHODS}
    times = time_variants(model, data, mixers, sizes, None)
    name = ("BERT-base-shaped (random init)" if base_size else
            f"{Path(path).name}{' (random init)' if random_init else ''}")
    print_table(f"{name}, batch {sizes.batch}, length {sizes.length}, fp32", times)


def decoder_batch(batch: int, length: int, vocab: int, pad: int, bos: int, seed: int = 0) -> dict:
    """Left-padded rows of random content tokens (ids above the special ones), each starting with `bos`,
    lengths from a quarter of `length` to all of it."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((batch, length), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i in range(batch):
        n = int(torch.randint(max(2, length // 4), length + 1, (1,), generator=g))
        ids[i, length - n:] = torch.randint(3, vocab, (n,), generator=g)
        ids[i, length - n] = bos
        mask[i, length - n:] = 1
    return {"input_ids": ids.to(DEV), "attention_mask": mask.to(DEV), "labels": (torch.arange(batch) % 2).to(DEV)}


def time_decoder(config_path: str, sizes: Sizes, autocast: torch.dtype | None = torch.bfloat16) -> None:
    """Step ratios of a randomly initialised decoder-only classifier shaped by the config.json at
    `config_path` (`--tiny`: 2 layers, hidden 64), left padding, every text method its Mixer accepts."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(config_path, num_labels=2)
    if config.pad_token_id is None:
        config.pad_token_id = config.eos_token_id
    if sizes.toy_models:  # --tiny
        config.update({"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                       "num_key_value_heads": 2, "head_dim": 16})
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).to(DEV).train()
    special = sorted({t for t in (0, config.bos_token_id, config.eos_token_id, config.pad_token_id) if t is not None})
    data = decoder_batch(sizes.batch, sizes.length, config.vocab_size, config.pad_token_id, config.bos_token_id or 1)
    mixers, skipped = {}, {}
    for method in TEXT_METHODS:
        try:
            mixers[method] = Mixer(model, MixConfig(method=method, layers=[config.num_hidden_layers // 2], seed=0),
                                   special_token_ids=special)
        except ValueError as err:  # the Mixer refuses methods that do not fit this model, naming why
            skipped[method] = str(err).split(".")[0]
    times = time_variants(model, data, mixers, sizes, autocast)
    dtype = "fp32" if autocast is None else f"{str(autocast).removeprefix('torch.')} autocast"
    print_table(f"{config.model_type} decoder, {config.num_hidden_layers} layers x {config.hidden_size} (random init), "
                f"left padding, batch {sizes.batch}, length {sizes.length}, {dtype}", times, skipped)


def main() -> None:
    global DEV
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="local BERT-tiny folder for the encoder timings")
    parser.add_argument("--random_init", action="store_true",
                        help="time --model's config randomly initialised (its weights are not needed)")
    parser.add_argument("--no_base_size", action="store_true", help="skip the BERT-base-shaped timing")
    parser.add_argument("--decoder", metavar="CONFIG_JSON", help="a decoder's config.json: time its shape, random init")
    parser.add_argument("--only_timing", action="store_true", help="skip the checks")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (a dry run: batch 4, length 16, 2 repeats)")
    args = parser.parse_args()
    DEV = torch.device(args.device)
    if DEV.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device (a dry run on the CPU: --device cpu --tiny)")
    sizes = Sizes(batch=4, length=16, repeats=2, warmup=1, toy_models=True) if args.tiny else Sizes()
    print(torch.__version__, device_name())
    if not args.only_timing:
        check_oracles()
        check_no_sync()
        check_bf16()
    if args.model:
        time_steps(args.model, sizes, random_init=args.random_init)
        if not args.no_base_size:
            time_steps(args.model, sizes, base_size=True)
    if args.decoder:
        time_decoder(args.decoder, sizes)


if __name__ == "__main__":
    main()
