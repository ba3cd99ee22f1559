"""Bad inputs get a clear error up front: before a model or tokenizer is loaded, before a step is trained.

Each table row is one bad input and (a pattern of) the message it gets. The recipe cases run with a
fixture that fails the test if any model or tokenizer is loaded, so every check must come first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path

from textmix.harness.cli import main as cli
from textmix.harness.compare.check import check_grid
from textmix.harness.compare.grid import load_grid
from textmix.harness.compare.sweep import GridError, parse_sweep
from textmix.harness.recipes import glue as recipe


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fail when a model or tokenizer is loaded: input errors must be found before that."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model or tokenizer was loaded before the bad input was reported")

    for cls in (transformers.AutoModelForSequenceClassification, transformers.AutoTokenizer,
                transformers.AutoModelForImageClassification):
        monkeypatch.setattr(cls, "from_pretrained", refuse)


def rows(n: int, labels: tuple[str, ...] = ("neg", "pos")) -> str:
    return "".join(f"sentence number {i},{labels[i % len(labels)]}\n" for i in range(n))


GOOD = "text,label\n" + rows(40)  # data lines 2..41

# (id, files written into the test folder, extra arguments, pattern of the error message)
RECIPE_CASES = [
    ("empty label", {"train.csv": GOOD + "an empty label,\nfine,neg\n"}, [],
     r"train\.csv: 1 row\(s\) without a label in column 'label' \(line 42\).*--drop_unlabelled"),
    ("missing label field", {"train.csv": GOOD + "no label field at all\nfine,pos\n"}, [],
     r"train\.csv: 1 row\(s\) without a label in column 'label' \(line 42\)"),
    ("empty and missing labels in the test file", {"dev.csv": "text,label\na,pos\nb,\nc\n"}, [],
     r"dev\.csv: 2 row\(s\) without a label in column 'label' \(lines 3, 4\)"),
    ("one class in the files", {"train.csv": "text,label\n" + rows(40, ("pos",)),
                                "dev.csv": "text,label\n" + rows(10, ("pos",))}, [],
     r"only one class \('pos'\).*--problem_type regression"),
    ("one class in the training split", {"train.csv": "text,label\n" + rows(40, ("pos",))}, [],
     r"the training split has only one class \('pos'\)"),
    ("a one-row training file", {"train.csv": "text,label\nonly row,pos\n"}, [],
     r"train\.csv has 1 row: too few"),
    ("an empty test file", {"dev.csv": "text,label\n"}, [], r"dev\.csv has no rows"),
    ("max_seq_length 0", {}, ["--max_seq_length", "0"], r"--max_seq_length must be > 0 \(got 0\)"),
    ("max_seq_length < 0", {}, ["--max_seq_length", "-5"], r"--max_seq_length must be > 0 \(got -5\)"),
    ("max_train_samples 0", {}, ["--max_train_samples", "0"], r"--max_train_samples must be > 0"),
    ("an unknown problem type", {}, ["--problem_type", "ordinal"],
     r"--problem_type must be one of \['classification', 'regression', 'multi_label'\]"),
    ("regression on words", {}, ["--problem_type", "regression"],
     r"train\.csv: --problem_type regression needs numeric labels; 'neg' \(line 2\)"),
    ("a missing model folder", {}, ["--model_name_or_path", "{tmp}/no/such/model"],
     r"model folder .*no/such/model does not exist"),
    ("a folder that is no model", {"empty_model/notes.txt": "x"}, ["--model_name_or_path", "{tmp}/empty_model"],
     r"empty_model has no config\.json: not a Hugging Face model folder"),
    ("output_dir is a file", {"taken": "a file"}, ["--output_dir", "{tmp}/taken"],
     r"--output_dir .*taken is a file, not a folder"),
    ("output_dir below a file", {"taken": "a file"}, ["--output_dir", "{tmp}/taken/out"],
     r"--output_dir .*taken/out cannot be created"),
    ("task and files together", {}, ["--task_name", "sst2"], r"give one source of data: --task_name .*--train_file"),
]


@pytest.mark.parametrize("files,extra,message", [c[1:] for c in RECIPE_CASES], ids=[c[0] for c in RECIPE_CASES])
def test_the_recipe_refuses_bad_input_before_loading_a_model(tmp_path, no_model_loading, files, extra, message):
    contents = {"train.csv": GOOD, "dev.csv": "text,label\n" + rows(10), **files}
    for name, text in contents.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    argv = ["--train_file", str(tmp_path / "train.csv"), "--validation_file", str(tmp_path / "dev.csv"),
            "--model_name_or_path", str(shared_path("models", "bert-tiny")), "--output_dir", str(tmp_path / "out"),
            "--max_steps", "1", "--report_to", "none", "--use_cpu", "--save_strategy", "no",
            *[a.replace("{tmp}", str(tmp_path)) for a in extra]]
    with pytest.raises((ValueError, OSError), match=message):
        recipe.RECIPE.main(argv)


# (id, preset, grid YAML merged over it, pattern of the error)
GRID_CASES = [
    ("a typo at the top", "smoke", "metods: [none]\n", r"unknown key 'metods' \(did you mean 'methods'\?\)"),
    ("a typo in training", "smoke", "training: {max_step: 2}\n",
     r"training: unknown key 'max_step' \(did you mean 'max_steps'\?\)"),
    ("a typo in data", "smoke", "data: {max_seq_lenght: 32}\n",
     r"data: unknown key 'max_seq_lenght' \(did you mean 'max_seq_length'\?\)"),
    ("an unknown task in task_args", "smoke", "task_args: {rtee: {data: {max_seq_length: 32}}}\n",
     r"task_args: unknown task 'rtee' \(did you mean 'rte'\?\)"),
    ("a typo of a task_args section", "smoke", "task_args: {rte: {dta: {max_seq_length: 32}}}\n",
     r"task_args\.rte: unknown key 'dta' \(did you mean 'data'\?\)"),
    ("a typo inside task_args", "smoke", "task_args: {rte: {training: {lerning_rate: 0.1}}}\n",
     r"task_args\.rte\.training: unknown key 'lerning_rate' \(did you mean 'learning_rate'\?\)"),
    ("an unknown method in method_args", "smoke", "method_args: {hiden: {mix_alpha: 1.0}}\n",
     r"method_args: unknown method 'hiden' \(did you mean 'hidden'\?\)"),
    ("a typo inside method_args", "smoke", "method_args: {hidden: {mix_alpa: 1.0}}\n",
     r"method_args\.hidden: unknown key 'mix_alpa' \(did you mean 'mix_alpha'\?\)"),
    ("the seed in training", "smoke", "training: {seed: 3}\n", r"training: 'seed' is set by the grid's `seeds`"),
    ("output_dir in training", "smoke", "training: {output_dir: x}\n", r"training: 'output_dir' is set by"),
    ("the task in data", "smoke", "data: {task_name: sst2}\n", r"data: 'task_name' is set by the task's `name`"),
    ("seeds that are not whole numbers", "smoke", "seeds: [0, one]\n", r"seeds must be whole numbers"),
    ("methods that are not a list", "smoke", "methods: hidden\n", r"methods must be a list"),
    ("an unknown task", "smoke", "tasks: [sst]\n", r"unknown GLUE task 'sst' \(did you mean 'sst2'\?\)"),
]


@pytest.mark.parametrize("preset,text,message", [c[1:] for c in GRID_CASES], ids=[c[0] for c in GRID_CASES])
def test_a_grid_with_a_bad_key_is_refused_before_any_run(tmp_path, preset, text, message):
    config = tmp_path / "grid.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(GridError, match=message):
        load_grid(preset, str(config))


def test_every_problem_of_a_grid_is_reported_at_once(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text("metods: [none]\ntraining: {max_step: 2}\nmethod_args: {hiden: {}}\n", encoding="utf-8")
    with pytest.raises(GridError) as err:
        load_grid("smoke", str(config))
    text = str(err.value)
    assert "3 problems" in text and "'metods'" in text and "'max_step'" in text and "'hiden'" in text


def deep_grid(tmp_path: Path, **over) -> dict:
    grid = {"model_name_or_path": str(shared_path("models", "bert-tiny")), "glue_dir": str(shared_path("data", "glue")),
            "tasks": ["rte"], "methods": ["none"], "seeds": [0],
            "data": {"max_train_samples": 16, "validation_split": 8, "max_seq_length": 32},
            "training": {"max_steps": 1}}
    grid.update(over)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid), encoding="utf-8")
    return load_grid(config=str(path))


def checked(grid, output_dir=None):
    """`check_grid` of a grid mapping and its plan, as `textmix compare` runs it."""
    sweep = parse_sweep(grid)
    return check_grid(sweep, sweep.plan(Path(output_dir or "."), fingerprints=False), output_dir)


def test_paths_values_and_models_of_a_grid_are_checked_together_before_the_first_run(tmp_path):
    (tmp_path / "file").write_text("x")
    grid = deep_grid(tmp_path, model_name_or_path=str(tmp_path / "models" / "gone"), glue_dir=str(tmp_path / "glue"),
                     data={"max_seq_length": 0}, training={"max_steps": 1})
    problems = checked(grid, tmp_path / "file")
    text = "\n".join(problems)
    assert "models/gone does not exist" in text
    assert f"glue_dir {tmp_path / 'glue'} does not exist" in text
    assert "--max_seq_length must be > 0" in text
    assert "is a file, not a folder" in text
    assert len(problems) >= 4


def test_a_good_grid_has_no_problems(tmp_path):
    assert checked(deep_grid(tmp_path), tmp_path / "sweep") == []


def test_cli_errors_are_one_message_with_a_debug_switch_for_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TEXTMIX_DEBUG", raising=False)
    config = tmp_path / "grid.yaml"
    config.write_text("training: {max_step: 2}\nmetods: [none]\n", encoding="utf-8")
    code = cli(["compare", "--preset", "smoke", "--config", str(config), "--output_dir", str(tmp_path / "out"),
                "--dry_run"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "max_step" in err and "metods" in err
    assert "--debug" in err  # says how to get the traceback
    with pytest.raises(GridError):
        cli(["--debug", "compare", "--preset", "smoke", "--config", str(config), "--output_dir", str(tmp_path)])
    monkeypatch.setenv("TEXTMIX_DEBUG", "1")
    with pytest.raises(GridError):
        cli(["compare", "--preset", "smoke", "--config", str(config), "--output_dir", str(tmp_path)])


def test_the_cli_reports_typos_paths_and_values_of_a_grid_together(tmp_path, capsys):
    config = tmp_path / "grid.yaml"
    config.write_text(f"model_name_or_path: {tmp_path / 'gone'}\nmetods: [none]\ndata: {{max_seq_length: 0}}\n",
                      encoding="utf-8")
    assert cli(["compare", "--preset", "smoke", "--config", str(config), "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err and "'metods'" in err and "gone does not exist" in err
    assert "--max_seq_length must be > 0" in err
    assert not (tmp_path / "o").exists()  # nothing ran, nothing was written


def test_a_typo_in_the_grid_fails_the_dry_run(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text("training: {max_step: 2}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "textmix.harness.cli", "compare", "--preset", "smoke", "--config",
                           str(config), "--output_dir", str(tmp_path / "out"), "--dry_run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "did you mean 'max_steps'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_recipe_launcher_prints_the_message_not_a_traceback(tmp_path):
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "recipes" / "run_glue.py"), "--task_name", "sst2",
                           "--model_name_or_path", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "o"),
                           "--report_to", "none"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert "TEXTMIX_DEBUG=1" in done.stderr
