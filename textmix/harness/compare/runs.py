"""One run of a sweep (`Run`: task x label noise x method x seed, its key and folder, as `Sweep.plan` lists
them), a plan's summary line (`runs_summary`) and its shards (`shard_runs`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..recipes.registry import DEFAULT_MODALITY
from ..runfile import identity, read_results


@dataclass
class Run:
    """One cell of the grid."""

    task: str
    method: str
    seed: int
    folder: Path
    data: dict[str, Any]
    training: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    """Fingerprints of the model and the data (see `Sweep.plan`), part of the key."""
    modality: str = DEFAULT_MODALITY
    model: dict[str, Any] = field(default_factory=dict)
    """The recipe's ModelArguments fields (`model_name_or_path` and any `model` overrides)."""
    label_noise: float = 0.0

    @property
    def name(self) -> str:
        """task/method[/noise<r>]/seed<k>, as on the console."""
        noise = f"/noise{self.label_noise:g}" if self.label_noise else ""
        return f"{self.task}/{self.method}{noise}/seed{self.seed}"

    @property
    def key(self) -> str:
        """Hash of everything that determines the run's results, and of nothing else (`runfile.identity` of its
        grid sections and fingerprints, and its modality)."""
        payload = identity({"data": self.data, "training": self.training, "model": self.model}, self.inputs)
        payload["modality"] = self.modality
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def done(self) -> bool:
        """Whether the folder holds the results of a run with this key."""
        try:
            return read_results(self.folder).get("grid_key") == self.key
        except (FileNotFoundError, ValueError, AttributeError):  # none yet, damaged, not a mapping
            return False

    @property
    def cost(self) -> float:
        """Relative cost, for a time-weighted progress bar: steps, times two for a step of two passes (a clean
        and a mixed one: RegMixup's `mix_clean_weight` > 0, a method that `needs_saliency`)."""
        from textmix.methods import registered

        steps = self.training.get("max_steps") or self.training.get("num_train_epochs", 3) * (
            self.data.get("max_train_samples") or 10000)
        method = self.training.get("mix_method")
        two_pass = float(self.training.get("mix_clean_weight") or 0) > 0 or any(
            m.needs_saliency for m in registered() if m.name == method)
        return float(steps) * (2.0 if two_pass else 1.0)


def runs_summary(runs: tuple[Run, ...]) -> str:
    """`N runs (D done, T to train)`, plus an estimate of the training time left when some runs are done:
    their recorded `train_time_s` per unit of `Run.cost` (steps), times the cost of the runs to train. The
    last line of `--dry_run`, and the first of a sweep."""
    done = [r for r in runs if r.done]
    todo = [r for r in runs if not r.done]
    line = f"{len(runs)} runs ({len(done)} done, {len(todo)} to train)"
    spent = cost = 0.0
    for run in done:
        try:
            seconds = read_results(run.folder).get("train_time_s")
        except (OSError, ValueError):
            continue
        if isinstance(seconds, (int, float)):
            spent, cost = spent + float(seconds), cost + run.cost
    if todo and cost > 0:
        left = spent / cost * sum(r.cost for r in todo)
        line += f"; about {left / 60:.0f} min of training left, from the {len(done)} finished runs' times"
    elif todo:
        line += "; no time estimate yet (no finished run in this sweep folder)"
    return line


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """`"I/N"` (1 <= I <= N) as (I, N), or None; a `ValueError` naming the form otherwise."""
    if shard is None:
        return None
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like I/N (e.g. 2/8 for the second of 8 shards), got {shard!r}.") from None
    if not 1 <= i <= n:
        raise ValueError(f"--shard {shard}: I must be within 1..N.")
    return i, n


def shard_runs(runs: tuple[Run, ...], shard: tuple[int, int] | None) -> tuple[Run, ...]:
    """The runs of shard (I, N): every N-th run of the plan from the I-th on (all runs without a shard). The
    plan's order depends only on the grid, so shards 1/N..N/N (a SLURM job array, say) cover every run once."""
    return runs if shard is None else runs[shard[0] - 1::shard[1]]
