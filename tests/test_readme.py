"""Every code block of README.md runs as written and does what its text says.

Substitutions, the only ones made (each test says which it uses):
- model and data paths: `../shared` -> `shared_dir()`, output folders and user data -> a temporary folder,
  SmolLM2's weights -> a tiny random Llama saved with SmolLM2's tokenizer (same module names);
- work bounds where a run as written takes minutes to hours (training steps, rows, `--dry_run` for the
  `textmix compare` presets): running them in full is impossible in a fast test suite; CI's own command
  is compared with `.ci/run` (the suite cannot run itself).
`test_every_block_is_tested` fails when a block appears that no test here claims.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, re.S)
REVIEWS = ROOT / "textmix" / "harness" / "data" / "reviews"

# A marker (a string only that block holds) -> the test that runs the block.
CLAIMS = {
    "textmix compare --preset quick --output_dir out/quick\n": "test_quickstart_command",
    'pip install -e ".[dev]" && python -m pytest -q': "test_test_command_is_what_ci_runs",
    "mixer = Mixer(model, MixConfig(": "test_api_snippet_mixes",
    "loss = loss + eta * mb.loss(": "test_regmixup_by_hand_snippet",
    'mix_method="span", mix_alpha=0.4': "test_trainer_snippet",
    "reliability_overlay(curves": "test_complete_run_and_its_fair_baseline",
    "arch=ArchSpec(": "test_arch_override_snippet",
    "torchrun --nproc_per_node 2 recipes/run_glue.py": "test_launch_commands",
    "python recipes/run_glue.py --task_name mrpc": "test_glue_recipe_commands",
    "textmix compare --preset smoke --output_dir out/smoke": "test_compare_commands",
    "model_name_or_path: ../shared/models/bert-tiny\nglue_dir:": "test_compare_commands",
    "python recipes/run_ner.py": "test_ner_commands",
    "from textmix.robustness import": "test_robustness_snippet",
    "textmix/                 the core": "test_repository_tree",
}


def block(marker: str) -> str:
    found = [code for _, code in BLOCKS if marker in code]
    assert len(found) == 1, f"{len(found)} README blocks hold {marker!r}"
    return found[0]


def paths(code: str) -> str:
    """The README's paths made real: ../shared -> shared_dir(), the package's own files by absolute path."""
    return (code.replace("../shared", str(shared_path()))
            .replace("textmix/harness/data/reviews", str(REVIEWS)))


def commands(code: str) -> list[list[str]]:
    """Each shell command of a block (continuation lines joined, comments dropped) as argv."""
    return [shlex.split(line, comments=True) for line in code.replace("\\\n", " ").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def run_exec(code: str, namespace: dict | None = None) -> dict:
    namespace = {"__name__": "readme", **(namespace or {})}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def run_command(argv: list[str]) -> tuple[int, str]:
    """A `textmix` or recipe command run in this process (as its console entry point would); (status, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if argv[0] == "textmix":
            from textmix.harness.cli import main
            status = main(argv[1:])
        elif argv[:2] == ["python", "recipes/run_glue.py"]:
            from textmix.harness.recipes.glue import cli
            status = cli(argv[2:])
        elif argv[:2] == ["python", "recipes/run_ner.py"]:
            from textmix.harness.recipes.ner import cli
            status = cli(argv[2:])
        else:
            raise AssertionError(f"no runner for {argv}")
    return status, out.getvalue()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


def test_every_block_is_tested():
    for _lang, code in BLOCKS:
        owners = {test for marker, test in CLAIMS.items() if marker in code}
        assert len(owners) == 1, f"README block without exactly one test ({owners}):\n{code[:200]}"
        assert all(callable(globals()[t]) for t in owners)


# ------------------------------------------------------------------ installs and commands


def test_quickstart_command(tmp_path):
    """Installing into a fresh venv and an hour-long preset cannot run in a test: the `textmix compare` part
    runs with `--dry_run` (the grid is checked in full, the runs are listed and counted)."""
    line = block("--preset quick --output_dir out/quick\n").strip()
    compare = shlex.split(line.split("&&")[-1])
    assert compare[:3] == ["textmix", "compare", "--preset"]
    status, out = run_command(compare + ["--dry_run"])
    assert status == 0
    assert re.search(r"^\d+ runs", out, re.M), out[-500:]


def test_test_command_is_what_ci_runs():
    """The suite cannot run itself: `.ci/run` (what CI runs) must run exactly the README's commands."""
    ci = (ROOT / ".ci" / "run").read_text()
    for part in block('python -m pytest -q').strip().split(" && "):
        cmd = part.replace("pip install", "python -m pip install -q")
        assert cmd in ci, f"{cmd!r} is not in .ci/run"


# ------------------------------------------------------------------ the API


def api_namespace() -> dict:
    """The API snippet, executed as written (bar the shared folder's path), with every mix() recorded."""
    from textmix import Mixer

    seen, mix = [], Mixer.mix

    def recording(self, batch):
        mb = mix(self, batch)
        seen.append(mb)
        return mb

    Mixer.mix = recording
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            namespace = run_exec(paths(block("mixer = Mixer(model, MixConfig(")))
    finally:
        Mixer.mix = mix
    namespace["_mixed"] = seen
    namespace["_warnings"] = [str(w.message) for w in caught]
    return namespace


def test_api_snippet_mixes():
    ns = api_namespace()
    seen = ns["_mixed"]
    assert len(seen) == 8  # 256 rows in batches of 32
    assert any(bool((mb.lam < 1).any()) for mb in seen), "the API snippet trained without mixing a row"
    assert {mb.layer for mb in seen} <= {1, 2} and not any("eval mode" in w for w in ns["_warnings"])


def test_regmixup_by_hand_snippet():
    """The RegMixup block as written, in a `pooled` mixer's context on bert-tiny (dropout off): its loss is
    CE(clean) + eta * the soft CE of the head on hand-mixed pooled vectors (the oracle)."""
    import torch.nn.functional as F
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textmix import MixConfig, Mixer

    path = str(shared_path("models", "bert-tiny"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    texts = ["a fine film", "dull and long", "the best of the year", "not worth it", "warm", "a mess"]
    batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([1, 0, 1, 0, 1, 0])
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        clean = F.cross_entropy(model(**inputs).logits, batch["labels"])
        pooled = model.bert(**inputs).pooler_output
    mixer = Mixer(model, MixConfig(method="pooled", alpha=20.0, clean_weight=1.0, seed=0))
    with mixer, torch.no_grad():
        out = run_exec(block("loss = loss + eta * mb.loss("), {"mixer": mixer, "model": model, "batch": batch,
                                                                "eta": 0.5})
    mb = out["mb"]
    assert bool((mb.lam < 1).any()), "the block mixed nothing"
    lam = mb.lam.reshape(-1, 1)
    logits = model.classifier(lam * pooled + (1 - lam) * pooled[mb.perm])
    onehot = F.one_hot(batch["labels"], 2).float()
    targets = lam * onehot + (1 - lam) * onehot[mb.perm]
    mixed = -(targets * logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(out["loss"], clean + 0.5 * mixed, rtol=1e-5, atol=1e-6)


def test_trainer_snippet(tmp_path):
    """Runs with the API snippet's model and tokenizer and small tokenized SST-2 sets (2 steps)."""
    from datasets import Dataset

    ns = api_namespace()
    tok = ns["tokenizer"]
    rows = ns["rows"]
    data = Dataset.from_dict({"sentence": [r["sentence"] for r in rows], "label": [int(r["label"]) for r in rows]})
    data = data.map(lambda b: tok(b["sentence"], truncation=True, max_length=64), batched=True)
    code = block('mix_method="span", mix_alpha=0.4').replace(
        "num_train_epochs=3", "max_steps=2, use_cpu=True, report_to='none', dataloader_pin_memory=False")
    out = run_exec(code, {"model": ns["model"], "tokenizer": tok, "train": data.select(range(64)),
                          "dev": data.select(range(64, 96))})
    assert out["trainer"].state.global_step == 2
    assert out["trainer"].mixer is not None


def test_complete_run_and_its_fair_baseline(tmp_path):
    """The worked example, shrunk to 2 steps, run twice: every method, `none` included, gives identical
    logits both times (each model is created after seeding; without it `none` changes between runs)."""
    shared = str(shared_path())
    text = block("reliability_overlay(curves")
    code = (text.replace("../shared", shared).replace("select(range(4000))", "select(range(48))")
            .replace("num_train_epochs=3", "max_steps=2, use_cpu=True, dataloader_pin_memory=False")
            .replace('data["dev"]', 'data["dev"].select(range(40))'))
    assert code != text
    first = run_exec(code)["curves"]
    assert (tmp_path / "out" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    torch.manual_seed(123)  # whatever ran before must not matter
    second = run_exec(code)["curves"]
    assert set(first) == {"none", "hidden", "span"}
    for method in first:
        np.testing.assert_array_equal(first[method][0], second[method][0], err_msg=method)


def test_arch_override_snippet():
    ns = run_exec(paths(block("arch=ArchSpec(")))
    from textmix import Mixer

    for model in (ns["mpnet"], ns["bert"]):  # the mixers the snippet builds mix those models
        model.train()
        batch = {"input_ids": torch.randint(5, 100, (4, 9)), "attention_mask": torch.ones(4, 9, dtype=torch.long),
                 "labels": torch.tensor([0, 1, 0, 1])}
        with Mixer(model, ns["cfg"], arch={"head": "classifier"} if model is ns["bert"] else ns["ArchSpec"](
                word_embeddings="mpnet.embeddings.word_embeddings", embeddings="mpnet.embeddings",
                layers="mpnet.encoder.layer.*", head="classifier")) as mixer:
            mb = mixer.mix(batch)
            assert torch.isfinite(mb.loss(model(**mb.inputs).logits)) and bool((mb.lam < 1).any())


def test_robustness_snippet():
    run_exec(block("from textmix.robustness import"))  # its own asserts check what the text says


def test_repository_tree():
    """The listing names files and folders that exist."""
    tree = block("textmix/                 the core")
    for line in tree.splitlines():
        first = line.split()[0] if line.strip() else ""
        if first.endswith("/") and not line.startswith(" "):
            assert (ROOT / first).is_dir(), first
    for name in ("config.py", "mixer.py", "draws.py", "trainer.py", "harness/paths.py", "harness/cli.py"):
        assert (ROOT / "textmix" / name).is_file()
    assert (ROOT / ".ci" / "run").is_file()


# ------------------------------------------------------------------ recipes and the comparison

BOUND_GLUE = ["--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "32",
              "--max_predict_samples", "32", "--per_device_train_batch_size", "8"]


def tiny_llama(tmp_path: Path) -> str:
    """A 2-layer random Llama with SmolLM2's tokenizer (and module names q_proj / v_proj)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path / "tiny-llama"
    tok = AutoTokenizer.from_pretrained(shared_path("models", "smollm2-135m"))
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.mark.slow
def test_glue_recipe_commands(tmp_path):
    """Each command as written, bounded to 2 steps on a few rows (`BOUND_GLUE`); SmolLM2 -> a tiny Llama."""
    pytest.importorskip("peft")
    code = paths(block("python recipes/run_glue.py --task_name mrpc"))
    code = code.replace('"$(bash ' + str(shared_path()) + '/models/smollm2-135m/build.sh)"', tiny_llama(tmp_path))
    runs = commands(code)
    assert len(runs) == 3
    for argv in runs:
        status, out = run_command(argv + BOUND_GLUE)
        assert status == 0, argv
        folder = tmp_path / argv[argv.index("--output_dir") + 1]
        assert (folder / "results.json").is_file() and "test accuracy" in out, out[-800:]
        assert (folder / "model.safetensors").is_file() or (folder / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_ner_commands(tmp_path):
    code = paths(block("python recipes/run_ner.py"))
    runs = commands(code)
    assert len(runs) == 2
    for argv in runs:
        status, out = run_command(argv + ["--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples",
                                          "16", "--max_predict_samples", "16"])
        assert status == 0, argv
    assert (tmp_path / "out" / "wnut17" / "report.md").is_file()
    assert (tmp_path / "out" / "wnut17-hidden" / "results.json").is_file()


@pytest.mark.slow
def test_compare_commands(tmp_path):
    """Every `textmix compare` line with `--dry_run` (the presets train for minutes to hours; Ray lines
    without ray installed must say how to install it); the grid is the README's yaml with its user data
    (reviews files, the ag_news hub dataset) replaced by local files; `textmix report` on a finished run."""
    reviews = tmp_path / "data"
    reviews.mkdir()
    (reviews / "reviews_train.csv").write_text((REVIEWS / "train.csv").read_text())
    (reviews / "reviews_test.csv").write_text((REVIEWS / "test.csv").read_text())
    news = tmp_path / "news"
    news.mkdir()
    (news / "train.csv").write_text("text,label\n" + "".join(f"story number {i},{i % 4}\n" for i in range(40)))
    (news / "test.csv").write_text("text,label\n" + "".join(f"story {i},{i % 4}\n" for i in range(12)))
    grid = paths(block("model_name_or_path: ../shared/models/bert-tiny\nglue_dir:"))
    (tmp_path / "grid.yaml").write_text(grid.replace("fancyzhx/ag_news", str(news)))
    from textmix.harness.backends import ray_available
    from textmix.harness.compare import PRESETS

    for argv in commands(block("textmix compare --preset smoke --output_dir out/smoke")):
        argv = [str(tmp_path / a.lstrip("/")) if a in ("/shared/sweep", "/nfs/sweep") else a for a in argv]
        if argv[1] == "report":
            continue
        if "ray" in argv and not ray_available():  # the documented error, naming the install
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                status, _ = run_command(argv + ["--dry_run"])
            assert status != 0 and "textmix[ray]" in err.getvalue()
            continue
        preset = PRESETS.get(argv[argv.index("--preset") + 1], {}) if "--preset" in argv else {}
        if (preset.get("training") or {}).get("bf16") and not torch.cuda.is_available():
            err = io.StringIO()  # a GPU preset on a machine without one: the documented error, naming the fix
            with contextlib.redirect_stderr(err):
                status, _ = run_command(argv + ["--dry_run"])
            assert status != 0 and "bf16 needs a GPU" in err.getvalue()
            continue
        status, out = run_command(argv + ["--dry_run"])
        assert status == 0, argv
        assert re.search(r"^\d+ runs", out, re.M), (argv, out[-400:])
    # `textmix report out/quick`: rebuild a report from a finished (2-step) run's results on disk
    report = next(a for a in commands(block("textmix report out/quick")) if a[1] == "report")
    status, _ = run_command(["python", "recipes/run_glue.py", "--task_name", "rte", "--model_name_or_path",
                             str(shared_path("models", "bert-tiny")), "--output_dir", "out/quick/runs/rte/none/seed0"]
                            + BOUND_GLUE)
    assert status == 0
    status, out = run_command(report)
    assert status == 0 and (tmp_path / "out" / "quick" / "report.md").is_file()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_launch_commands(tmp_path):
    """`torchrun` as written, bounded to 2 steps on a few rows; `accelerate launch` on a machine without GPUs
    gets `--cpu` (it then starts one process: documented)."""
    pytest.importorskip("accelerate")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    runs = commands(paths(block("torchrun --nproc_per_node 2 recipes/run_glue.py")))
    assert [r[0] for r in runs] == ["torchrun", "accelerate"]
    for argv in runs:
        argv = [str(ROOT / a) if a == "recipes/run_glue.py" else a for a in argv] + BOUND_GLUE
        if argv[0] == "torchrun":
            argv = [sys.executable, "-m", "torch.distributed.run", "--master_port", str(free_port())] + argv[1:]
        else:
            argv = [sys.executable, "-m", "accelerate.commands.launch", "--cpu"] + argv[2:]
            if not torch.cuda.is_available():
                argv += ["--use_cpu"]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        folder = tmp_path / argv[argv.index("--output_dir") + 1]
        assert (folder / "results.json").is_file()
