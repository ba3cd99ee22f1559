"""Running a sweep (`compare`): its plan checked, each run under its lock (`train_run`) through its recipe
(`run_one`), then the report."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..checks import notice
from ..runfile import read_results, write_atomic, write_json_atomic
from .check import check_grid
from .runs import Run, runs_summary, shard_runs
from .sweep import GridError, Sweep

LOCK_FILE = ".textmix-run.lock"
"""In a run's folder while a process trains it: {"pid", "host", "since"}."""

PLAN_FILE = "plan.json"
"""In the sweep folder: per task its modality, test set, methods and the methods skipped on it (and why)."""


class SweepFailed(RuntimeError):
    """Every run of a sweep failed: nothing to report."""

    exit_code = 1


def run_one(run: Run) -> dict:
    """Train and evaluate one run through its modality's recipe; remove its checkpoints when done."""
    from textmix.trainer import MixTrainingArguments

    from ..recipes.registry import get_recipe

    recipe = get_recipe(run.modality)
    model_args = recipe.model_arguments(**{k: v for k, v in run.model.items() if v is not None})
    data_args = recipe.data_arguments(**{k: v for k, v in run.data.items() if v is not None or k == "glue_dir"})
    results = recipe.run(model_args, data_args, MixTrainingArguments(**run.training),
                         tags={"method": run.method, "grid_key": run.key, "task": run.task})
    for checkpoint in [*run.folder.glob("checkpoint-*"), *run.folder.glob("damaged-checkpoint-*"),
                       *run.folder.glob("superseded-checkpoint-*")]:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return results


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lock(folder: Path) -> str | None:
    """Take the run folder's lock (`LOCK_FILE`, created atomically with this process's pid and host).

    Returns None when taken, else who holds it ("pid N on host H since T"). A lock of a local process
    that is gone is stale: it is taken over, with a message."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    host = socket.gethostname()
    me = {"pid": os.getpid(), "host": host, "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text(encoding="utf-8"))
                pid, their_host = int(holder["pid"]), str(holder["host"])
            except FileNotFoundError:
                continue  # released meanwhile: try again
            except (OSError, ValueError, KeyError, TypeError):
                try:
                    age = time.time() - path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < 30:  # being written right now
                    return f"a process that is starting it ({path})"
                pid, their_host, holder = -1, host, {}
            mine = their_host == host and pid == os.getpid()
            if their_host != host or (pid > 0 and _alive(pid) and not mine):
                return f"pid {pid} on host {their_host} since {holder.get('since', '?')}"
            stale = path.with_name(f"{LOCK_FILE}.stale-{os.getpid()}")
            try:
                os.replace(path, stale)  # atomic: of several processes taking it over, one wins the create
            except FileNotFoundError:
                continue
            stale.unlink(missing_ok=True)
            if not mine:
                notice(f"taking over the stale lock of {folder} (pid {pid} on host {their_host} is gone)")
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        return None
    return f"processes competing for {path}"


def release_lock(folder: Path) -> None:
    """Remove the run folder's lock if this process holds it."""
    path = folder / LOCK_FILE
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def _run_line(name: str, results: Mapping[str, Any]) -> str:
    """One line for a finished run: task/method/seed, the task metric, accuracy, ECE and training time."""
    from ..report.views import task_metric

    test = results.get("test", {}) if isinstance(results.get("test"), Mapping) else {}
    metric = task_metric(results) if "task" in results else "accuracy"
    shown = ((metric, metric),) * (metric != "accuracy") + (("accuracy", "acc"), ("ece", "ECE"))
    parts = [name] + [f"{label} {test[key]:.4f}" for key, label in shown if key in test]
    if results.get("train_time_s") is not None:
        parts.append(f"{results['train_time_s']:.0f} s")
    return "  ".join(parts)


def _append(path: Path) -> Any:
    """`path` opened to append text, never through a symlink (an `OSError` naming it)."""
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link: textmix writes a run's files only inside its folder; remove it.")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)  # also if planted meanwhile
    return os.fdopen(os.open(path, flags, 0o666), "a", encoding="utf-8")


def train_run(run: Run) -> dict[str, Any]:
    """Train one run unless another process holds its lock or it is done: takes the run's lock, trains with
    the Trainer's output in the run's `run.log`, releases the lock. Never raises for a failed run: returns
    {"status": "done" | "locked" | "failed", "results" | "holder" | "error" + "log"} (a backend's unit of work)."""
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # weight loading and saving bars
    datasets.disable_progress_bars()
    holder = acquire_lock(run.folder)
    if holder is not None:
        return {"status": "locked", "holder": holder}
    try:
        if run.done:  # another process finished it meanwhile
            return {"status": "done", "results": read_results(run.folder)}
        run.folder.mkdir(parents=True, exist_ok=True)
        with _append(run.folder / "run.log") as log, contextlib.redirect_stdout(log):
            results = run_one(run)
        return {"status": "done", "results": results}
    except KeyboardInterrupt:
        raise
    except Exception as err:  # keep going; the report lists what failed
        log = run.folder / "error.log"
        text = "".join(traceback.format_exception(err)).encode("utf-8")
        write_atomic(log, lambda f: f.write(text))
        return {"status": "failed", "error": repr(err), "log": str(log)}
    finally:
        release_lock(run.folder)


def _write_plan(sweep: Sweep, output_dir: Path) -> None:
    """The sweep folder's grid.json and plan.json (`Sweep.task_plan`), and a notice per task that some of the
    grid's `data` does not apply to."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / "grid.json", sweep.given)
    tasks = sweep.task_plan()
    write_json_atomic(output_dir / PLAN_FILE, {"tasks": tasks, "label_noise": list(sweep.label_noise),
                                               "shift": dict(sweep.shift)})
    applied = {k for info in tasks.values() for k in sweep.data if k not in info["unapplied_data"]}
    for name, info in tasks.items():  # a key the grid's other tasks take is theirs (plan.json lists where not)
        unapplied = [k for k in info["unapplied_data"] if k not in applied]
        if unapplied:
            notice(f"task {name}: the grid's data {unapplied} apply to none of its tasks (the {info['modality']} "
                   "recipe takes no such argument from the grid-wide `data`); set it in a task's own `data`.")


def compare(sweep: Sweep, output_dir: str | Path, *, dry_run: bool = False, progress: bool = True,
            shard: tuple[int, int] | None = None, backend: str = "local", address: str | None = None,
            workers: int | None = None) -> dict:
    """Plan and check the sweep (a `GridError` lists every problem), train every unfinished run in `output_dir`
    that no other process is training (of `shard` (I, N) only; `backend` `local` or `ray`, `workers` at once, on
    the cluster at `address`: `textmix.harness.backends`), then write the report of every run finished so far and
    return it. `dry_run`: print the runs (a JSON line each) and their summary instead; returns {"dry_run": True,
    "n_runs": N}. The console gets one progress bar, a line per finished run and the recipe's notices; what the
    Trainer prints goes to the run's `run.log`. A failed run is recorded in `failures.json` (its traceback in the
    run's `error.log`) and the sweep goes on; `SweepFailed` when no run has results. When every run without
    results is locked by another process, there is no report yet: returns {"pending": True, "locked": [...]}."""
    from tqdm.auto import tqdm

    from ..backends import map_unordered
    from ..report import build_report

    output_dir = Path(output_dir)
    runs = sweep.plan(output_dir) if sweep.plannable else ()  # planned once: the checks and the runs read it
    problems = check_grid(sweep, runs, output_dir)
    if problems:
        raise GridError(problems)
    runs = shard_runs(runs, shard)
    if dry_run:
        for run in runs:
            print(json.dumps({"task": run.task, "method": run.method, "seed": run.seed, "label_noise": run.label_noise,
                              "modality": run.modality, "done": run.done}))
        print(runs_summary(runs))
        return {"dry_run": True, "n_runs": len(runs)}
    _write_plan(sweep, output_dir)
    todo = [r for r in runs if not r.done]
    if progress:
        print(runs_summary(runs), flush=True)  # what --dry_run ends with: the runs, those done, the time left
    if len(todo) < len(runs):
        notice(f"{len(runs) - len(todo)} of {len(runs)} runs already done (their results.json under the same run key), "
               f"skipped{'; nothing to train' if not todo else ''}")
    failures: list[dict[str, Any]] = []
    locked: list[str] = []
    bar = tqdm(total=sum(r.cost for r in runs), initial=sum(r.cost for r in runs if r.done), disable=not progress,
               desc=f"{len(runs) - len(todo)}/{len(runs)} runs", unit="step", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed}<{remaining}] {postfix}")
    if todo and backend == "local":
        bar.set_postfix_str(todo[0].name)
    finished = len(runs) - len(todo)
    outcomes = map_unordered(train_run, todo, backend=backend, address=address, num_workers=workers)
    with contextlib.closing(outcomes), contextlib.closing(bar):
        for i, outcome in outcomes:
            run = todo[i]
            if isinstance(outcome, BaseException):  # the worker itself died
                outcome = {"status": "failed", "error": repr(outcome), "log": None}
            if outcome["status"] == "locked":
                locked.append(run.name)
                notice(f"run {run.folder} is being trained by {outcome['holder']}: skipped (that process writes its "
                       f"results; if it does not exist any more, remove {run.folder / LOCK_FILE}).")
            elif outcome["status"] == "failed":
                failures.append({"task": run.task, "method": run.method, "seed": run.seed,
                                 "label_noise": run.label_noise, "folder": str(run.folder),
                                 "error": outcome["error"], "log": outcome["log"]})
                print(f"\nrun {run.folder} failed: {outcome['error']} (traceback: {outcome['log']})", file=sys.stderr)
            else:
                bar.write(_run_line(run.name, outcome["results"]))
            finished += 1
            failed = f", {len(failures)} failed" if failures else ""
            bar.set_description(f"{finished}/{len(runs)} runs{failed}")
            bar.update(run.cost)
            if backend == "local" and i + 1 < len(todo):
                bar.set_postfix_str(todo[i + 1].name)
    write_json_atomic(output_dir / "failures.json", _merged_failures(output_dir / "failures.json", runs, failures))
    if locked:
        notice(f"{len(locked)} run(s) left to another process that is training them: {', '.join(locked)}; "
               "run `textmix report` when it is done.")
    if locked and not failures and not any(r.done for r in runs):  # everything is another process's, for now
        return {"n_runs": len(runs), "locked": locked, "pending": True, "failures": [], "clashes": []}
    if failures and not any(r.done for r in runs):
        raise SweepFailed(f"{len(failures)} of {len(runs)} runs failed and no run has results; the errors are in "
                          f"{output_dir / 'failures.json'}, the tracebacks in each run's error.log (first: "
                          f"{failures[0]['log']}: {failures[0]['error']}).")
    with _report_lock(output_dir):
        summary = build_report(output_dir, baseline=sweep.baseline)
    summary["n_runs"], summary["locked"] = len(runs), locked
    return summary


REPORT_LOCK = ".report"
"""The folder (in the sweep folder) whose `LOCK_FILE` one process holds while it reads the runs and writes the report."""


@contextlib.contextmanager
def _report_lock(output_dir: Path, wait_s: float = 600.0) -> Any:
    """Hold the sweep's report lock: processes sharing a sweep folder build its report one after the other, each
    reading the runs after the previous one wrote, so the last report written is the one with the most runs (without
    it a report started earlier, with fewer runs, could be written last). After `wait_s` the report is built anyway."""
    folder, start = output_dir / REPORT_LOCK, time.monotonic()
    while (holder := acquire_lock(folder)) is not None and time.monotonic() - start < wait_s:
        time.sleep(0.2)
    try:
        yield
    finally:
        if holder is None:
            release_lock(folder)


def _merged_failures(path: Path, runs: tuple[Run, ...], failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """failures.json's new content: this process's failures, and the earlier entries of runs it did not train
    (another shard's, or this grid's runs of an earlier call) whose run has no results yet. Without the merge,
    shards sharing a sweep folder would each overwrite the others' failures."""
    mine = {str(r.folder) for r in runs}
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = []
    kept = [f for f in earlier if isinstance(f, dict) and str(f.get("folder")) not in mine
            and not (Path(str(f.get("folder"))) / "results.json").exists()] if isinstance(earlier, list) else []
    return kept + failures
