"""Every problem of a sweep before its first run (`check_grid`): its structure, the sweep folder, the models,
the recipe arguments of every run and each task's data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..checks import problem_model, problem_output_dir
from ..recipes.registry import get_recipe
from ..tasks import recipe_fields
from .runs import Run
from .sweep import Sweep


def check_grid(sweep: Sweep, runs: tuple[Run, ...], output_dir: str | Path | None = None) -> list[str]:
    """Every problem of a sweep and its plan `runs` (none when the structure is too broken to plan), as messages:
    `Sweep.problems`, then the sweep folder, each model (loadable config and tokenizer), `glue_dir`, the recipe
    arguments of every run (each distinct set built once) and each task's data (files, columns, labels, ...)."""
    problems = list(sweep.problems)
    if output_dir is not None:
        problem = problem_output_dir(output_dir, option="--output_dir", create=False)
        if problem:
            problems.append(problem)
    models: dict[tuple[str, bool], str] = {}
    for s in sweep.tasks:
        args = sweep.task_model(s)  # its own, else the grid's, then its task_args
        if args.get("model_name_or_path"):
            models.setdefault((str(args["model_name_or_path"]), args.get("trust_remote_code") is True), s.name)
    for (model, trust), task in models.items():
        where = "model_name_or_path" if model == str(sweep.model_name_or_path) else f"task {task}: model_name_or_path"
        problem = problem_model(model, option=where)
        if problem:
            problems.append(problem)
        elif Path(model).expanduser().is_dir():
            custom = _own_code(Path(model).expanduser())
            if custom and not trust:
                problems.append(f"{where} {model} runs code of its own ({custom}): textmix runs it only when asked; set "
                                f"`model: {{trust_remote_code: true}}` on task {task} (or in task_args) if you trust "
                                "it, or choose another model.")
                continue
            try:
                from transformers import AutoConfig, AutoTokenizer

                # an explicit trust_remote_code: transformers never asks on the terminal
                config = AutoConfig.from_pretrained(model, trust_remote_code=trust)
                if not getattr(config, "num_channels", None):  # image models have a processor, not a tokenizer
                    AutoTokenizer.from_pretrained(model, trust_remote_code=trust)
            except Exception as err:  # noqa: BLE001 - any failure to load is the problem to report
                problems.append(f"{where} {model} does not load: {err}")
    glue_ok = True
    if sweep.glue_dir and any(s.glue for s in sweep.tasks) and not Path(str(sweep.glue_dir)).is_dir():
        problems.append(f"glue_dir {sweep.glue_dir} does not exist: give the folder holding the GLUE task folders "
                        "(CoLA, SST-2, ...), or leave it out to read the hub.")
        glue_ok = False
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # loading each task's data is a check here, not work to watch
    try:
        problems += _run_problems(runs, check_glue=glue_ok)
    finally:
        if bars:
            datasets.enable_progress_bars()
    return list(dict.fromkeys(problems))


def _own_code(folder: Path) -> str | None:
    """Which file of a local model folder asks to run the model's own code (an `auto_map` in config.json or
    tokenizer_config.json), or None."""
    for name in ("config.json", "tokenizer_config.json"):
        try:
            content = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(content, Mapping) and content.get("auto_map"):
            return f"`auto_map` in its {name}"
    return None


def _run_problems(runs: tuple[Run, ...], check_glue: bool) -> list[str]:
    """Problems of the recipe arguments of every run (unknown keys left out: `Sweep.problems` names them) and of
    each distinct data configuration's data, as its recipe loads it (a GLUE task's only with `check_glue`)."""
    from textmix.trainer import MixTrainingArguments

    problems: list[str] = []
    seen_data: dict[str, tuple[str, str, dict, dict]] = {}
    seen_training: dict[str, list[str]] = {}
    for run in runs:
        fields = recipe_fields(run.modality)
        data = {k: v for k, v in run.data.items() if k in fields["data"]}
        model = {k: v for k, v in run.model.items() if k in fields["model"]}
        key = json.dumps([run.modality, data, model], sort_keys=True, default=str)
        seen_data.setdefault(key, (run.task, run.modality, data, model))
        training = {k: v for k, v in run.training.items() if k not in ("seed", "output_dir") and k in fields["training"]}
        seen_training.setdefault(json.dumps(training, sort_keys=True, default=str), []).append(run.method)
    for task, modality, data, model in seen_data.values():
        recipe = get_recipe(modality)
        try:
            data_args, model_args = recipe.data_arguments(**data), recipe.model_arguments(**model)
            if check_glue or not data.get("task_name"):  # a GLUE task (only text tasks have task_name)
                recipe.check_data(model_args, data_args, MixTrainingArguments(output_dir="__check__", report_to="none"))
        except Exception as err:  # noqa: BLE001 - the recipe's own message
            problems.append(f"task {task}: {err}")
    for text, methods in seen_training.items():
        try:
            MixTrainingArguments(**json.loads(text), output_dir=str(Path("__check__")))
        except Exception as err:  # noqa: BLE001
            hint = (" (bf16 needs a GPU: run this grid where there is one, or set `training: {bf16: false}`)"
                    if "bf16" in str(err) else "")
            problems.append(f"training of method {methods[0]}: {err}{hint}")
    return problems
