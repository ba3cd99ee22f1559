"""Every code block of README.md runs as written and does what its text says.

Each Python block runs alone in a fresh interpreter (`run_python`: the block as a script, nothing defined
before it), must print something, and is then checked by code run after it in the same interpreter.
Substitutions, the only ones made (each test says which it uses):
- model and data paths: `../shared` -> `shared_dir()`, output folders and user data -> a temporary folder,
  SmolLM2's weights -> a tiny random Llama saved with SmolLM2's tokenizer (same module names);
- work bounds where a run as written takes minutes to hours (training steps, rows, `--dry_run` for the
  `textmix compare` presets): running them in full is impossible in a fast test suite; CI's own command
  is compared with `.ci/run` (the suite cannot run itself);
- where an oracle recomputes a block's result after it ran: dropout off and a learning rate of 0 (the
  block's optimizer step then leaves the weights the oracle reads as they were).
`test_every_block_is_tested` fails when a block appears that no test here claims.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
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
    "textmix compare --preset intro --output_dir out/intro\n": "test_quickstart_command",
    'pip install -e ".[test]" && python -m pytest -q': "test_test_command_is_what_ci_runs",
    "layers=(1, 2), seed=0))   # after layer 1 or 2": "test_api_snippet_mixes",
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


CHECKS = "@@ the test's checks @@"


def run_python(code: str, folder: Path, checks: str = "", prelude: str = "") -> tuple[str, dict, str]:
    """Run a README block alone in a fresh interpreter (cwd `folder`), then `checks` in the same interpreter
    (code that reads the block's names and fills the dict `_checks`); (what the block printed, `_checks`,
    stderr). The block must print something: a reader sees that it worked. `prelude` runs before the block
    (only to show that what ran before does not matter)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "readme_block.py"
    script.write_text(f"{prelude}\n{code}\n\n# ---- after the block\nimport json as _json\n_checks = {{}}\n"
                      f"print({CHECKS!r})\n{checks}\nprint(_json.dumps(_checks))\n", encoding="utf-8")
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=pythonpath, TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"the block failed:\n{code[:300]}\n{done.stderr[-3000:]}"
    shown, _, after = done.stdout.partition(CHECKS)
    assert shown.strip(), f"the block printed nothing:\n{code[:300]}"
    return shown, json.loads(after.strip().splitlines()[-1]), done.stderr


RUNNER = """
import contextlib, io, json, sys

results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if argv[0] == "textmix":
            from textmix.harness.cli import main
            status = main(argv[1:])
        elif argv[:2] == ["python", "recipes/run_glue.py"]:
            from textmix.harness.recipes.glue import RECIPE
            status = RECIPE.cli(argv[2:])
        elif argv[:2] == ["python", "recipes/run_ner.py"]:
            from textmix.harness.recipes.ner import RECIPE
            status = RECIPE.cli(argv[2:])
        else:
            raise SystemExit(f"no runner for {argv}")
    results.append([status, out.getvalue(), err.getvalue()])
print(MARK + json.dumps(results))
"""


def run_commands(argvs: list[list[str]], folder: Path) -> list[tuple[int, str, str]]:
    """A block's `textmix` and recipe commands, in order, in one fresh interpreter (cwd `folder`), each as its
    console entry point runs it; (status, stdout, stderr) of each."""
    script = folder / "readme_commands.py"
    script.write_text(f"MARK = {CHECKS!r}\n{RUNNER}", encoding="utf-8")
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, str(script), json.dumps(argvs)], cwd=folder, capture_output=True, text=True,
                          timeout=1200, env=dict(os.environ, PYTHONPATH=pythonpath, TOKENIZERS_PARALLELISM="false"))
    assert done.returncode == 0, done.stderr[-3000:]
    return [tuple(r) for r in json.loads(done.stdout.rpartition(CHECKS)[2])]


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


def section(title: str) -> str:
    """The README's text from heading `title` to the next heading of the same level."""
    level = title.split(" ")[0]
    start = README.index(title + "\n")
    end = README.find("\n" + level + " ", start + len(title))
    return README[start:end if end > 0 else None]


def cli_dry_run(compare: list[str], folder: Path) -> str:
    """`textmix compare ... --dry_run` in a fresh interpreter (as the console script would run it); its stdout."""
    assert compare[:2] == ["textmix", "compare"], compare
    done = subprocess.run([sys.executable, "-m", "textmix.harness.cli", *compare[1:], "--dry_run"], cwd=folder,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                              p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_quickstart_command(tmp_path):
    """Installing into a fresh venv cannot run in a test: the `textmix compare` part runs with `--dry_run` (the
    grid is checked in full, the runs are listed and counted; test_intro_preset_... times it as written), and
    so does the next step the Quickstart gives (`quick`, with its `--dry_run`) as the text says: 162 runs."""
    line = block("--preset intro --output_dir out/intro\n").strip()
    parts = line.split(" && ")
    assert parts[:2] == ["python -m venv .venv", ". .venv/bin/activate"] and parts[3] == 'pip install -e ".[compare]"'
    assert parts[2] == "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"  # CPU-only
    out = cli_dry_run(shlex.split(parts[-1]), tmp_path)
    assert re.search(r"^8 runs \(0 done, 8 to train\)", out, re.M), out[-500:]
    text = " ".join(section("## Quickstart").split())
    assert "`intro` preset: 8 runs" in text and "162 runs, **about an hour on 2 CPU cores**" in text
    nxt = [" ".join(c.split()) for c in re.findall(r"`(textmix compare --preset quick[^`]*)`", text)]
    assert "textmix compare --preset quick --output_dir out/quick --dry_run" in nxt, nxt
    assert "textmix compare --preset quick --output_dir out/quick" in nxt, nxt
    out = cli_dry_run(shlex.split(nxt[nxt.index("textmix compare --preset quick --output_dir out/quick")]), tmp_path)
    assert re.search(r"^162 runs \(0 done, 162 to train\)", out, re.M), out[-500:]


def test_test_command_is_what_ci_runs():
    """The suite cannot run itself: `.ci/run` (what CI runs) must run the README's commands, line by line, and
    the quickstart's torch line; CI's torch line drops only the CPU index (its machines hold the CPU wheel)."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    parts = block('python -m pytest -q').strip().split(" && ")
    torch_line = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert parts[0] == torch_line and torch_line in block("--preset intro --output_dir out/intro\n")
    assert parts[1:] == ['pip install -e ".[test]"', "python -m pytest -q"]
    for part in [parts[0].split(" --index-url ")[0], *parts[1:]]:
        cmd = part.replace("pip install", "python -m pip install -q")
        assert cmd in ci, f"{cmd!r} is not a line of .ci/run"
    assert ci[-1] == "python -m pytest -q"  # the suite last, after the linter


def _imported_by_tests() -> set[str]:
    """Top-level names of what the tests import (`import`, `from ... import`, `pytest.importorskip(...)`), less the
    standard library and the repository's own modules."""
    import ast

    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip" and node.args
                  and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value.split(".")[0])
    trees = [ROOT / d for d in ("textmix", "tests", "benchmarks", "examples", "recipes", "tools")]  # never a venv
    own = {p.stem if p.suffix == ".py" else p.name for tree in trees for p in tree.rglob("*")
           if p.suffix == ".py" or p.is_dir()}
    return names - set(sys.stdlib_module_names) - own - {"textmix"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_the_test_extra_holds_what_the_tests_import():
    """`pip install -e ".[test]"` installs every third-party module a test imports (the runtime dependencies, the
    [test] extra with the extras it names (`textmix[compare]`), or what they pull), and each entry of [test] is
    imported by a test, but for those named here."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, requires

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    own = [r for r in extras["test"] if r.startswith("textmix[")]
    test_extra = _requirement_names([r for r in extras["test"] if r not in own])
    pulled = _requirement_names([r for o in own for e in o[8:-1].split(",") for r in extras[e.strip()]])
    needed_not_imported = {"seqeval": "the NER recipe's entity F1, which the recipe tests run"}
    installed, todo = set(), list(_requirement_names(project["dependencies"]) | test_extra | pulled)
    while todo:  # the requirement closure, from the installed packages' metadata
        name = todo.pop()
        if name in installed:
            continue
        installed.add(name)
        try:
            todo += [n for n in _requirement_names([r for r in requires(name) or [] if "extra ==" not in r])]
        except PackageNotFoundError:
            pass
    dists = packages_distributions()
    imported = _imported_by_tests()
    missing = {m: dists.get(m) for m in imported
               if not {d.lower().replace("_", "-") for d in dists.get(m, [m])} & installed}
    assert not missing, f"tests import modules that [test] does not install: {missing}"
    distributions = {d.lower().replace("_", "-") for m in imported for d in dists.get(m, [m])}
    unused = test_extra - distributions - set(needed_not_imported)
    assert not unused, f"[test] holds packages no test imports: {sorted(unused)}"


# ------------------------------------------------------------------ the API


def test_api_snippet_mixes(tmp_path):
    """As written: 8 batches of 32 (256 rows), each printed with the layer it drew (1 or 2) and its lambda;
    some rows mixed; no eval-mode warning."""
    shown, _, err = run_python(paths(block("layers=(1, 2), seed=0))   # after layer 1 or 2")), tmp_path)
    steps = re.findall(r"^layer (\d+)  lam ([\d.]+)  loss ([\d.]+)$", shown, re.M)
    assert len(steps) == 8, shown
    assert {int(layer) for layer, _, _ in steps} <= {1, 2}
    assert any(float(lam) < 1 for _, lam, _ in steps), "the API snippet trained without mixing a row"
    assert "eval mode" not in err


REGMIXUP_ORACLE = """
import torch.nn.functional as F
inputs = {k: v for k, v in batch.items() if k != "labels"}
with torch.no_grad():
    clean = F.cross_entropy(model(**inputs).logits, batch["labels"])
    pooled = model.bert(**inputs).pooler_output
    lam = mb.lam.reshape(-1, 1)
    logits = model.classifier(lam * pooled + (1 - lam) * pooled[mb.perm])
    onehot = F.one_hot(batch["labels"], 2).float()
    targets = lam * onehot + (1 - lam) * onehot[mb.perm]
    mixed = -(targets * logits.log_softmax(-1)).sum(-1).mean()
_checks.update(loss=loss.item(), oracle=(clean + eta * mixed).item(), mixed=int((mb.lam < 1).sum()))
"""


def test_regmixup_by_hand_snippet(tmp_path):
    """The RegMixup block alone, with dropout off and a learning rate of 0: its loss is CE(clean) + eta * the
    soft CE of the head on hand-mixed pooled vectors (the oracle, computed after the block)."""
    text = paths(block("loss = loss + eta * mb.loss("))
    code = (text.replace("from_pretrained(bert, num_labels=2)", "from_pretrained(bert, num_labels=2, "
                         "hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)")
            .replace("lr=1e-4", "lr=0.0"))
    assert code.count("dropout_prob=0.0") == 2 and "lr=0.0" in code
    shown, out, _ = run_python(code, tmp_path, REGMIXUP_ORACLE)
    assert out["mixed"] > 0, "the block mixed nothing"
    assert out["loss"] == pytest.approx(out["oracle"], rel=1e-5, abs=1e-6)
    assert f"= {out['loss']:.3f}" in shown


def test_trainer_snippet(tmp_path):
    """As written, bounded to 2 steps on 64 training and 32 dev rows; prints the dev set's metrics."""
    text = paths(block('mix_method="span", mix_alpha=0.4'))
    code = (text.replace("num_train_epochs=3", "max_steps=2, use_cpu=True, dataloader_pin_memory=False")
            .replace("select(range(512))", "select(range(64))").replace('data["dev"]', 'data["dev"].select(range(32))'))
    assert code.count(".select(range(") == 2 and "max_steps=2" in code
    shown, out, _ = run_python(code, tmp_path, "_checks.update(steps=trainer.state.global_step, "
                                               "mixer=trainer.mixer is not None, dev=len(dev))")
    assert out == {"steps": 2, "mixer": True, "dev": 32}
    assert "'eval_accuracy'" in shown and "'eval_ece'" in shown


def test_complete_run_and_its_fair_baseline(tmp_path):
    """The worked example, shrunk to 2 steps, run twice in fresh interpreters, the second after other draws from
    torch's generator: every method, `none` included, gives identical logits both times (each model is created
    after seeding; without it `none` changes between runs)."""
    text = paths(block("reliability_overlay(curves"))
    code = (text.replace("select(range(4000))", "select(range(48))")
            .replace("num_train_epochs=3", "max_steps=2, use_cpu=True, dataloader_pin_memory=False")
            .replace('data["dev"]', 'data["dev"].select(range(40))'))
    assert code.count(".select(range(") == 2 and "max_steps=2" in code
    keep = "import numpy as _np\n_np.savez('logits.npz', **{m: c[0] for m, c in curves.items()})"
    shown, _, _ = run_python(code, tmp_path / "first", keep)
    assert (tmp_path / "first" / "out" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert [line.split()[0] for line in shown.splitlines() if line.split()[:1] in (["none"], ["hidden"], ["span"])] \
        == ["none", "hidden", "span"]
    run_python(code, tmp_path / "second", keep, prelude="import torch\ntorch.manual_seed(123)\ntorch.rand(7)")
    first, second = (np.load(tmp_path / name / "logits.npz") for name in ("first", "second"))
    assert set(first.files) == {"none", "hidden", "span"}
    for method in first.files:
        np.testing.assert_array_equal(first[method], second[method], err_msg=method)


ARCH_CHECKS = """
bert.train()
with mixer:
    bert_mb = mixer.mix(batch)
    bert_loss = bert_mb.loss(bert(**bert_mb.inputs).logits)
_checks.update(mpnet=[bool(torch.isfinite(loss)), bool((mb.lam < 1).any())],
               bert=[bool(torch.isfinite(bert_loss)), bool((bert_mb.lam < 1).any())])
"""


def test_arch_override_snippet(tmp_path):
    """As written; after it, the bert-tiny mixer it builds (the table's entry with one field overridden) mixes the
    block's batch as well: finite losses, rows mixed."""
    shown, out, _ = run_python(paths(block("arch=ArchSpec(")), tmp_path, ARCH_CHECKS)
    assert out == {"mpnet": [True, True], "bert": [True, True]}
    assert "MPNet mixed after layer" in shown and "bert-tiny: 2 layers, head Linear" in shown


def test_robustness_snippet(tmp_path):
    run_python(block("from textmix.robustness import"), tmp_path)  # its own asserts check what the text says


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
    for argv, (status, out, _) in zip(runs, run_commands([argv + BOUND_GLUE for argv in runs], tmp_path), strict=True):
        assert status == 0, argv
        folder = tmp_path / argv[argv.index("--output_dir") + 1]
        assert (folder / "results.json").is_file() and "test accuracy" in out, out[-800:]
        assert (folder / "model.safetensors").is_file() or (folder / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_ner_commands(tmp_path):
    code = paths(block("python recipes/run_ner.py"))
    runs = commands(code)
    assert len(runs) == 2
    bound = ["--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "16", "--max_predict_samples", "16"]
    for argv, (status, _, _) in zip(runs, run_commands([argv + bound for argv in runs], tmp_path), strict=True):
        assert status == 0, argv
    assert (tmp_path / "out" / "wnut17-span" / "results.json").is_file()
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
    from textmix.harness.compare.presets import PRESETS

    argvs = [[str(tmp_path / a.lstrip("/")) if a in ("/shared/sweep", "/nfs/sweep") else a for a in argv] + ["--dry_run"]
             for argv in commands(block("textmix compare --preset smoke --output_dir out/smoke")) if argv[1] != "report"]
    for argv, (status, out, err) in zip(argvs, run_commands(argvs, tmp_path), strict=True):
        if "ray" in argv and not ray_available():  # the documented error, naming the install
            assert status != 0 and "textmix[ray]" in err
            continue
        preset = PRESETS.get(argv[argv.index("--preset") + 1], {}) if "--preset" in argv else {}
        if (preset.get("training") or {}).get("bf16") and not torch.cuda.is_available():
            # a GPU preset on a machine without one: the documented error, naming the fix
            assert status != 0 and "bf16 needs a GPU" in err
            continue
        assert status == 0, (argv, err[-400:])
        assert re.search(r"^\d+ runs", out, re.M), (argv, out[-400:])
    # `textmix report out/quick`: rebuild a report from a finished (2-step) run's results on disk
    report = next(a for a in commands(block("textmix report out/quick")) if a[1] == "report")
    setup = ["python", "recipes/run_glue.py", "--task_name", "rte", "--model_name_or_path",
             str(shared_path("models", "bert-tiny")), "--output_dir", "out/quick/runs/rte/none/seed0"] + BOUND_GLUE
    (status, _, _), (reported, _, _) = run_commands([setup, report], tmp_path)
    assert status == 0 and reported == 0 and (tmp_path / "out" / "quick" / "report.md").is_file()


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
