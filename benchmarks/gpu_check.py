"""Checks and timings on a CUDA GPU (run where one is available; the test suite covers the CPU).

    python benchmarks/gpu_check.py [--model PATH_TO_BERT_TINY]

1. Every text method on tiny BERT / RoBERTa / DeBERTa-v2 configs on the GPU matches the same
   oracles as the CPU tests (hand-mixed inputs_embeds; two-pass replay for hidden Mixup).
2. `mix()` of every text method makes no host-device synchronisation (CUDA sync debug mode "error").
3. bf16 autocast on the GPU trains (finite loss, gradients).
4. With --model: median training-step time per method / plain step on the GPU (batch 32, length 128).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from oracles import embedding_oracle, modules_of, replace_oracle  # noqa: E402

from textmix import MixConfig, Mixer  # noqa: E402

SPECIAL = [0, 1, 2]


def tiny(model_type: str):
    extra = {"roberta": {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}, "deberta-v2": {
        "relative_attention": True, "position_biased_input": False, "pos_att_type": ["p2c", "c2p"],
        "max_relative_positions": 16, "pooler_dropout": 0.0, "pooler_hidden_size": 32}}.get(model_type, {})
    cfg = AutoConfig.for_model(model_type, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                               intermediate_size=37, vocab_size=120, max_position_embeddings=64,
                               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3, **extra)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(cfg).cuda().train()


def batch(b=6, length=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((b, length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i in range(b):
        n = int(torch.randint(3, length + 1, (1,), generator=g))
        ids[i, :n] = torch.randint(3, 120, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = 1, 2
        mask[i, :n] = 1
    return {"input_ids": ids.cuda(), "attention_mask": mask.cuda(), "labels": torch.randint(0, 3, (b,)).cuda()}


def check_oracles() -> None:
    for arch in ("bert", "roberta", "deberta-v2"):
        model = tiny(arch)
        data = batch(seed=1)
        for method in ("embedding", "hidden", "pooled"):
            mixer = Mixer(model, MixConfig(method=method, alpha=1.0, layers=[2], seed=0))
            with mixer:
                mb = mixer.mix(data)
                assert mb.perm.device.type == "cuda" and mb.lam.device.type == "cuda"
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
        with mixer, torch.autocast("cuda", dtype=torch.bfloat16):
            mb = mixer.mix(data)
            loss = mb.loss(model(**mb.inputs).logits)
        loss.backward()
        assert torch.isfinite(loss)
        print(f"bf16 autocast ok: {method} loss {float(loss):.4f}")


def time_steps(path: str, length: int = 128, repeats: int = 30, base_size: bool = False) -> None:
    """Step ratios with bert-tiny, or (base_size) a randomly initialised BERT-base of the same vocabulary."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if base_size:
        config = AutoConfig.for_model("bert", vocab_size=tokenizer.vocab_size, num_labels=2)  # 12 x 768
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_config(config).cuda().train()
    else:
        torch.manual_seed(0)  # the new head: the same in every run
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    texts = [f"sentence {i} " + "word " * (5 + 3 * i) for i in range(32)]
    data = dict(tokenizer(texts, padding="max_length", max_length=length, truncation=True, return_tensors="pt"))
    data = {k: v.cuda() for k, v in data.items()}
    data["labels"] = (torch.arange(32) % 2).cuda()
    plain_inputs = {k: v for k, v in data.items() if k != "labels"}
    mixers = {m: Mixer(model, MixConfig(method=m, layers=[model.config.num_hidden_layers // 2], seed=0),
                       tokenizer=tokenizer)
              for m in ("embedding", "hidden", "pooled", "span", "saliency_span")}

    def plain():
        torch.nn.functional.cross_entropy(model(**plain_inputs).logits, data["labels"]).backward()

    def mixed(mixer):
        def step():
            if mixer.next_needs_saliency:
                clean = mixer.clean(data)
                clean.loss(model(**clean.inputs).logits).backward()
            mb = mixer.mix(data)
            mb.loss(model(**mb.inputs).logits).backward()
        return step

    variants = {"plain": plain, "plain (control)": plain, **{m: mixed(x) for m, x in mixers.items()}}
    times = {k: [] for k in variants}
    for r in range(repeats + 3):
        for name in variants:
            mixer = mixers.get(name)
            if mixer:
                mixer.attach()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            start = time.perf_counter()
            variants[name]()
            opt.step()
            torch.cuda.synchronize()
            if r >= 3:
                times[name].append(time.perf_counter() - start)
            if mixer:
                mixer.detach()
    base = statistics.median(times["plain"])
    name = "BERT-base (random init)" if base_size else "bert-tiny"
    print(f"\n{torch.cuda.get_device_name()} | {name}, batch 32, length {length}, fp32")
    print("| method | median step (ms) | / plain |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts) * 1000:.2f} | {statistics.median(ts) / base:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="local BERT-tiny folder for the timing part")
    parser.add_argument("--only_timing", action="store_true", help="skip the checks")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device")
    print(torch.__version__, torch.cuda.get_device_name())
    if not args.only_timing:
        check_oracles()
        check_no_sync()
        check_bf16()
    if args.model:
        time_steps(args.model)
        time_steps(args.model, base_size=True)


if __name__ == "__main__":
    main()
