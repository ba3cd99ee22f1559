"""`pip install textmix` gives the core without the harness's dependencies; `textmix[compare]` adds them, and the
`textmix` command without them says so in one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from textmix.harness.checks import COMPARE_EXTRA
from textmix.harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
HARNESS_ONLY = ("matplotlib", "scipy", "sklearn")  # never loaded by `import textmix` or MixTrainer's training


def project() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_the_compare_extra_is_what_the_command_checks():
    """COMPARE_EXTRA (the modules `textmix` checks for) and pyproject's [compare] name the same distributions
    (mapped through the installed packages' metadata); none of them is a runtime dependency, and [test] holds
    [compare] (the suite tests the harness)."""
    config = project()
    extra = names(config["optional-dependencies"]["compare"])
    dists = packages_distributions()
    from_modules = {d.lower().replace("_", "-") for m in COMPARE_EXTRA for d in dists[m]}
    assert from_modules == extra, f"COMPARE_EXTRA gives {sorted(from_modules)}, [compare] is {sorted(extra)}"
    assert not extra & names(config["dependencies"]), "a harness dependency is still a runtime dependency"
    assert set(HARNESS_ONLY) <= set(COMPARE_EXTRA)
    assert "textmix[compare]" in config["optional-dependencies"]["test"]


@pytest.mark.parametrize("module", COMPARE_EXTRA)
def test_the_command_without_the_extra_names_it(module, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails, as when it is not installed
    out = tmp_path / "out"
    assert main(["compare", "--preset", "smoke", "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"textmix: error: this command needs the harness's dependencies ({module} not installed): "
                   "pip install 'textmix[compare]'\n")
    assert not out.exists()


def test_the_command_without_any_of_the_extra_in_a_fresh_interpreter(tmp_path):
    """As the console script starts: nothing of the harness imported yet, so an import at module level of the
    parser's path that needs the extra would show here as a traceback."""
    code = (f"import sys\nfor m in {COMPARE_EXTRA!r}:\n    sys.modules[m] = None\n"
            "from textmix.harness.cli import main\nsys.exit(main())")
    done = subprocess.run([sys.executable, "-c", code, "compare", "--preset", "smoke", "--output_dir", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 2 and not done.stdout, (done.stdout, done.stderr)
    assert done.stderr.splitlines() == [f"textmix: error: this command needs the harness's dependencies "
                                        f"({', '.join(COMPARE_EXTRA)} not installed): pip install 'textmix[compare]'"]


TRAIN = """
import importlib.util, math, sys
from pathlib import Path

absent = [m for m in {absent!r} if importlib.util.find_spec(m) is not None]
assert not absent, f"installed without being asked for: {{absent}}"
import datasets
import textmix
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, set_seed
from textmix import MixTrainer, MixTrainingArguments

assert Path(textmix.__file__).is_relative_to(Path(sys.prefix)), textmix.__file__  # the installed copy
bert = {bert!r}
tokenizer = AutoTokenizer.from_pretrained(bert)
texts = ["a fine film", "dull and long", "the best of the year", "i left early", "warm, funny, true",
         "a waste of time", "see it twice", "nothing works"] * 2
train = datasets.Dataset.from_dict({{"sentence": texts, "label": [i % 2 for i in range(len(texts))]}})
train = train.map(lambda b: tokenizer(b["sentence"], truncation=True, max_length=32), batched=True)
set_seed(0)
model = AutoModelForSequenceClassification.from_pretrained(bert, num_labels=2)
args = MixTrainingArguments(output_dir="out", mix_method="hidden", mix_alpha=0.4, max_steps=4,
                            per_device_train_batch_size=8, logging_steps=1, save_strategy="no", report_to="none",
                            use_cpu=True, disable_tqdm=True)
trainer = MixTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                     data_collator=DataCollatorWithPadding(tokenizer))
result = trainer.train()
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
assert len(losses) == 4 and all(math.isfinite(x) for x in losses) and math.isfinite(result.training_loss), losses
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {absent!r} or m.startswith("textmix.harness"))
assert not loaded, loaded
print("trained", losses)
"""


@pytest.mark.slow
def test_pip_install_textmix_trains_without_the_harness_dependencies(tmp_path):
    """The real user path: a fresh venv, torch, then `pip install <repo>` (no extras, not editable); there
    matplotlib, scipy and scikit-learn are absent, `import textmix` works, a MixTrainer with hidden Mixup trains
    4 steps of bert-tiny with finite losses without loading them (nor the harness), and the `textmix` command
    says in one line to install the extra. Minutes: the installs come from pip's cache or index."""
    shared = os.environ.get("TEXTMIX_SHARED")
    if not shared:
        message = "TEXTMIX_SHARED is unset: set it to the folder holding models/bert-tiny"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    bert = Path(shared) / "models" / "bert-tiny"
    assert (bert / "config.json").is_file(), f"{bert} is not a model folder"
    src = tmp_path / "src"  # the package's files alone: the build writes nothing into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "textmix", src / "textmix", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    start = time.perf_counter()

    def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert not check or done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    run(sys.executable, "-m", "venv", str(venv))
    run(python, "-m", "pip", "install", "-q", "torch==2.13.0")
    run(python, "-m", "pip", "install", "-q", str(src))
    installed = time.perf_counter() - start
    done = run(python, "-c", textwrap.dedent(TRAIN).format(absent=HARNESS_ONLY, bert=str(bert)))
    assert "trained" in done.stdout, done.stdout
    done = run(str(venv / "bin" / "textmix"), "compare", "--preset", "smoke", "--output_dir", "out", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    missing = re.fullmatch(r"textmix: error: this command needs the harness's dependencies \((.+) not installed\): "
                           r"pip install 'textmix\[compare\]'", line)
    assert missing and set(HARNESS_ONLY) <= set(missing[1].split(", ")), line
    print(f"installs {installed:.0f} s, all {time.perf_counter() - start:.0f} s")
