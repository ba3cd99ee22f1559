"""Reading a sweep: results files (damaged ones skipped and named), incomplete runs, label-noise variants, clashes."""

from __future__ import annotations

import json
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import runfile
from ..checks import InputError, did_you_mean
from ..runfile import IDENTITY_KEYS, MAPPINGS
from .views import COLUMNS, REQUIRED, number, source


def incomplete_reason(result: dict) -> str | None:
    """Why a run cannot count in the means, or None: a figure its problem type needs (`REQUIRED`) is missing,
    or a figure the report averages (`COLUMNS`) is not a number or not finite (NaN, inf)."""
    kind = result.get("problem_type") or ("regression" if result.get("regression") else "classification")
    required = REQUIRED.get(kind, REQUIRED["classification"])
    found = []
    for column in COLUMNS:
        where, value = source(result, column)
        if value is None:
            if column in required:
                found.append(f"{where} is missing")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            found.append(f"{where} is {value!r} (a {type(value).__name__}, not a number)")
        elif not math.isfinite(value):
            found.append(f"{where} is {value}")
    return "; ".join(dict.fromkeys(found)) or None  # the task metric may be accuracy itself


def split_incomplete(results: list[dict]) -> tuple[list[dict], list[dict[str, Any]]]:
    """(runs with every figure, incomplete runs as {task, method, seed, label_noise, folder, reason}): an
    incomplete run is listed, never averaged (see `incomplete_reason`)."""
    reasons = [incomplete_reason(r) for r in results]
    return [r for r, why in zip(results, reasons, strict=True) if why is None], [
        {"task": variant(r), "method": r["method"], "seed": r["seed"], "folder": r.get("_folder", "?"), "reason": why}
        for r, why in zip(results, reasons, strict=True) if why is not None]


def label_noise(result: dict) -> float:
    """The rate at which a run's training labels were flipped: `label_noise` in results.json, else (an
    older file) the `noise<rate>` folder the run lives in, else 0 (clean)."""
    value = number(result.get("label_noise"))
    if math.isnan(value) and result.get("_folder"):
        parent = Path(result["_folder"]).parent.name
        if parent.startswith("noise"):
            value = number(parent[len("noise"):])
    return 0.0 if math.isnan(value) else value


def variant_label(task: str, noise: float) -> str:
    """The report's name of a task trained at label-noise rate `noise`: the task itself when clean, else
    `"<task> · label noise <rate>"`."""
    return task if not noise else f"{task} · label noise {noise:g}"


def variant(result: dict) -> str:
    """The report's name of a run's task (see `variant_label`)."""
    return variant_label(result["task"], label_noise(result))


def plot_name(kind: str, task: str, noise: float = 0.0) -> str:
    """File name of a task's picture, e.g. `shift_sst2.png`, `shift_sst2_noise0.2.png`, `label_noise_sst2.png`."""
    stem = task if not noise else f"{task}_noise{noise:g}"
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)}.png"


RUN_PATTERNS = ("runs/*/*/seed*/results.json", "runs/*/*/noise*/seed*/results.json")
"""Where a sweep's results are: clean runs, and runs trained with label noise (`noise<rate>`)."""


def scan(sweep_dir: str | Path) -> tuple[list[dict], list[dict[str, str]]]:
    """(every readable run's results.json under `sweep_dir/runs` (`RUN_PATTERNS`), the files skipped with the
    reason): a file that does not read or parse, or fails `_schema_problem`, is skipped with a warning naming it."""
    out, skipped = [], []
    paths = sorted({p for pattern in RUN_PATTERNS for p in Path(sweep_dir).glob(pattern)})
    for path in paths:
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            reason = f"not valid JSON ({err})"
        except OSError as err:
            reason = f"cannot be read ({err.strerror or err})"
        else:
            reason = _schema_problem(result)
        if reason:
            warnings.warn(f"{path}: {reason}; skipped (run it again, or remove the file).", stacklevel=2)
            skipped.append({"file": str(path), "reason": reason})
            continue
        result["_folder"] = str(path.parent)
        out.append(result)
    return out, skipped


PREDICTIONS = "predictions.npz"


def load_test_predictions(result: Mapping[str, Any], name: str = "test") -> tuple[Any, Any] | None:
    """(logits, labels) of a run's test set (or another set `name` of it) from its folder's predictions.npz
    (`_folder`), or None where it has none or it does not load (`check_predictions` has named it)."""
    import numpy as np

    folder = result.get("_folder")
    if not folder or result.get("_predictions_problem") or not (Path(folder) / PREDICTIONS).exists():
        return None
    with np.load(Path(folder) / PREDICTIONS, allow_pickle=False) as data:
        if f"{name}_logits" not in data.files and name != "test":
            return None
        return np.asarray(data[f"{name}_logits"]), np.asarray(data[f"{name}_labels"])


def classifier_predictions(result: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """(test logits, test labels) of a single-label or token classification run (token runs: their labelled
    tokens), or None (another problem type, no predictions.npz)."""
    from textmix.calibration import labelled_tokens

    kind = result.get("problem_type") or ("regression" if result.get("regression") else "classification")
    if kind not in ("classification", "token") or (loaded := load_test_predictions(result)) is None:
        return None
    return labelled_tokens(*loaded) if kind == "token" else loaded


def check_predictions(results: list[dict]) -> list[dict[str, str]]:
    """The runs' predictions.npz files that do not load (truncated, not a zip, without `test_logits` or
    `test_labels`), each named in a warning and returned as a skipped file; such a run keeps its figures
    in the tables (from results.json) and is marked (`_predictions_problem`) so the intervals and the
    reliability diagrams leave it out."""
    skipped = []
    for result in results:
        path = Path(result["_folder"]) / PREDICTIONS if result.get("_folder") else None
        if path is None or not path.exists():
            continue
        try:
            load_test_predictions(result)
        except Exception as err:  # noqa: BLE001 - a truncated zip raises BadZipFile, EOFError, zlib.error, ...
            reason = (f"does not load ({type(err).__name__}: {str(err)[:200]}): the run's figures are in the "
                      "tables, but it is left out of the intervals and the reliability diagram (run it again)")
            warnings.warn(f"{path}: {reason}.", stacklevel=2)
            result["_predictions_problem"] = reason
            skipped.append({"file": str(path), "reason": reason})
    return skipped


def _schema_problem(result: Any) -> str:
    """What makes a loaded results.json unusable ('' when nothing): not a mapping, `task`, `method` or `seed`
    missing or of the wrong type, an entry of `schema.MAPPINGS` that is not a mapping, a `label_noise` not a number."""
    if not isinstance(result, dict):
        return f"holds a {type(result).__name__}, not a mapping"
    missing = [k for k in IDENTITY_KEYS if k not in result]
    if missing:
        return f"lacks {missing}"
    wants = {"task": (str, "a string"), "method": (str, "a string"), "seed": (int, "a whole number"),
             "label_noise": ((int, float), "a number")}
    wrong = [f"`{k}` is {result[k]!r} (a {type(result[k]).__name__}, not {want})" for k, (kind, want) in wants.items()
             if (k != "label_noise" or result.get(k) is not None)
             and (isinstance(result[k], bool) or not isinstance(result[k], kind))]
    wrong += [f"`{k}` is a {type(result[k]).__name__}, not a mapping" for k in MAPPINGS
              if result.get(k) is not None and not isinstance(result[k], dict)]
    return "; ".join(wrong)




def identity(result: dict) -> dict[str, Any]:
    """A run's identity (`runfile.identity` of its `config` and `inputs`, less the seed) as flat `section.key`
    entries of JSON text."""
    config = result.get("config") if isinstance(result.get("config"), dict) else {}
    inputs = result.get("inputs") if isinstance(result.get("inputs"), dict) else {}
    same = runfile.identity({k: v for k, v in config.items() if isinstance(v, dict)}, inputs)
    same.get("training", {}).pop("seed", None)
    return {f"{section}.{key}": json.dumps(value, sort_keys=True)
            for section, values in same.items() for key, value in values.items()}


def find_clashes(results: list[dict]) -> tuple[list[dict], list[dict[str, Any]]]:
    """(results to report, clashes): a task (at one label-noise rate, see `variant`) and method whose runs
    differ in configuration (see `identity`) or repeat a seed is a clash, listed with its folders and
    the reason, and left out. Runs at different noise rates are different cells, never a clash."""
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        by_cell[(variant(r), r["method"])].append(r)
    kept, clashes = [], []
    for (task, method), runs in by_cell.items():
        reasons = []
        seeds = defaultdict(list)
        for r in runs:
            seeds[r["seed"]].append(r)
        repeated = sorted((s for s, rs in seeds.items() if len(rs) > 1), key=str)
        if repeated:
            reasons.append("; ".join(f"seed {s} appears {len(seeds[s])} times" for s in repeated))
        ids = [identity(r) for r in runs]
        shared = set.intersection(*(set(i) for i in ids)) if ids else set()
        differing = sorted(k for k in shared if len({i[k] for i in ids}) > 1)
        if differing:
            shown = ", ".join(f"{k} ({' vs '.join(sorted({i[k] for i in ids}))})" for k in differing[:3])
            more = f" and {len(differing) - 3} more" if len(differing) > 3 else ""
            reasons.append(f"the runs differ in configuration: {shown}{more}")
        if reasons:
            clashes.append({"task": task, "method": method, "reason": "; ".join(reasons),
                            "folders": [r.get("_folder", "?") for r in runs]})
        else:
            kept.extend(runs)
    return kept, clashes


def _skipped_methods(entries: Any) -> dict[str, str]:
    """plan.json's methods skipped on a task as {method: reason} (a bare list of methods: reason unknown)."""
    if isinstance(entries, dict):
        return {str(m): str(why) for m, why in entries.items()}
    if isinstance(entries, (list, tuple)):
        return {str(m): "reason not recorded" for m in entries}
    return {}


def _order_names(order: dict, key: str) -> list[str]:
    """The names in `order[key]` (a grid's `tasks` or `methods`): strings, or dicts naming one (`name`)."""
    entries = order.get(key) or []
    entries = list(entries) if isinstance(entries, (dict, list, tuple)) else []
    names = [e if isinstance(e, str) else e.get("name") if isinstance(e, dict) else None for e in entries]
    return [n for n in names if isinstance(n, str)]


def _check_baseline(baseline: str, finished: set[str], planned: list[str]) -> None:
    """An `InputError` (with the closest name) when `baseline` is no method of the sweep; a warning when it has no
    results (the change columns are then empty) or is the default `none` and absent."""
    if baseline in finished:
        return
    known = sorted(finished | set(planned))
    if baseline not in known and baseline != "none":
        raise InputError(f"--baseline {baseline!r} is not a method of this sweep{did_you_mean(baseline, known)}; "
                         f"its methods are {known}.")
    warnings.warn(f"the baseline {baseline!r} has no results in this sweep: the change columns are empty; "
                  f"choose another with --baseline (one of {sorted(finished)}).", stacklevel=3)


def _sweep_file(path: Path, kind: type, without: str, skipped: list[dict[str, str]]) -> Any:
    """The content of a sweep's JSON file `path`, or None: when it does not exist, or is not valid JSON or not of
    `kind` (then named in a warning and in `skipped`, saying what the report lacks without it)."""
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        reason = f"not valid JSON ({err})"
    else:
        if isinstance(value, kind):
            return value
        reason = f"holds a {type(value).__name__}, not a {'mapping' if kind is dict else 'list'}"
    reason += f"; {without} (run `textmix compare` again to rewrite it)"
    warnings.warn(f"{path}: {reason}.", stacklevel=3)
    skipped.append({"file": str(path), "reason": reason})
    return None
