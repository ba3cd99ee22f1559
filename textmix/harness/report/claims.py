"""Claims and recommendations: the baseline's miscalibration, the recommended method, the evidence behind each claim, the verdict."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import views
from .intervals import natural_intervals
from .statistics import (
    _nan_high,
    add_intervals,
    judge,
    natural_common,
    natural_means,
    paired_change,
    shift_means,
)


@dataclass(frozen=True)
class Claim:
    """One claim made for mixing, judged per task against the baseline: its `name`; `text`, what it measures, for
    report.md; `metrics`, the report columns it is judged on (or `shifted accuracy`), `better` lower or higher (a
    method helps (hurts) only where every metric says so); which runs it selects: `evidence` `columns` (the summary
    rows' changes) or `shift` (accuracy on the shifted test sets whose kind `shift_kinds` accepts, averaged per
    seed) or `natural shift` (the figures on the natural-shift test sets, averaged per seed), and `noisy_only` (only tasks trained with label noise); `stand_in`: a column used for a metric that
    older results lack; `shows_calibration`: its verdict row carries the baseline's miscalibration."""

    name: str
    metrics: tuple[str, ...]
    better: str
    evidence: str
    text: str
    stand_in: tuple[tuple[str, str], ...] = ()
    shift_kinds: Callable[[str], bool] | None = None
    noisy_only: bool = False
    shows_calibration: bool = False

    def __post_init__(self) -> None:
        if self.better not in ("lower", "higher"):
            raise ValueError(f"claim {self.name!r}: `better` is {self.better!r}; use 'lower' or 'higher'.")
        if self.evidence not in ("columns", "shift", "natural shift"):
            raise ValueError(f"claim {self.name!r}: `evidence` is {self.evidence!r}; use 'columns', 'shift' or "
                             "'natural shift'.")
        if (self.evidence == "shift") != (self.shift_kinds is not None):
            raise ValueError(f"claim {self.name!r}: a `shift` claim needs `shift_kinds`, and only it takes them.")
        unknown = [m for m in self.metrics if self.evidence == "columns" and m not in views.COLUMNS]
        if unknown:
            raise ValueError(f"claim {self.name!r}: {unknown} are no report columns; known: {list(views.COLUMNS)}.")


def check_claims(claims: tuple[Claim, ...]) -> tuple[Claim, ...]:
    """`claims`, or a ValueError naming a claim declared twice."""
    names = [c.name for c in claims]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"the claims {twice} are declared more than once; give each claim its own name.")
    return claims


CLAIMS: tuple[Claim, ...] = check_claims((
    Claim("calibration", ("smece", "nll", "brier"), "lower", "columns",
          "smooth ECE, NLL and Brier score on the clean test set (lower is better; helps or hurts only where all "
          "three agree: NLL and Brier are proper scores, rewarding calibration and sharpness together)",
          stand_in=(("smece", "ece"),), shows_calibration=True),
    Claim("calibration after temperature scaling", ("smece_ts", "nll_ts"), "lower", "columns",
          "does mixing + temperature scaling beat the baseline + temperature scaling: smooth ECE and NLL after "
          "scaling with the temperature fitted on validation (helps or hurts only where both agree)",
          stand_in=(("smece_ts", "ece_ts"),), shows_calibration=True),
    Claim("corruption robustness", ("shifted accuracy",), "higher", "shift",
          "test accuracy on corrupted copies of the test set, averaged per seed over every shift kind but "
          f"{' and '.join(views.OCCLUSION_KINDS)} and over their severities", shift_kinds=lambda k: k not in views.OCCLUSION_KINDS),
    Claim("occlusion robustness", ("shifted accuracy",), "higher", "shift",
          "test accuracy averaged per seed over the kinds `occlusion` (images) and `mask` (text: masked words are "
          "occluded text) and their severities", shift_kinds=lambda k: k in views.OCCLUSION_KINDS),
    Claim("calibration under natural shift", ("smece", "nll", "brier"), "lower", "natural shift",
          "smooth ECE, NLL and Brier score on the natural-shift test sets (another source, the same labels), averaged "
          "per seed over the sets (lower is better; helps or hurts only where all three agree)"),
    Claim("label-noise tolerance", ("accuracy",), "higher", "columns",
          "test accuracy of runs trained with that share of training labels flipped, against the baseline trained at "
          "the same rate", noisy_only=True),
))
"""The claims of the verdict table, in its order: one row each."""


def change_columns() -> tuple[str, ...]:
    """The figures whose change against the baseline each summary row carries: `views.CHANGES` and every column a
    claim is judged on (or stands in for one), in `COLUMNS` order."""
    wanted = {*views.CHANGES, *(m for c in CLAIMS for m in c.metrics), *(s for c in CLAIMS for pair in c.stand_in for s in pair)}
    return tuple(c for c in views.COLUMNS if c in wanted)


def calibration_direction(temperature: float) -> str:
    """`over-confident` (temperature > OVERCONFIDENT_T), `under-confident` (< UNDERCONFIDENT_T), `close to
    calibrated` in between, `unknown` without a temperature."""
    if temperature is None or math.isnan(temperature):
        return "unknown"
    return ("over-confident" if temperature > views.OVERCONFIDENT_T else "under-confident"
            if temperature < views.UNDERCONFIDENT_T else "close to calibrated")


def baseline_calibration(row: dict[str, Any] | None, runs: list[dict]) -> dict[str, Any] | None:
    """The baseline's miscalibration of a task: mean temperature (over the seeds whose temperature is a fit, never
    one at the search bound: those are `bound_seeds`, from `temperature_at_bound` in results.json; the row's mean
    where no seed has a fit), mean confidence
    and accuracy over seeds and the `calibration_direction`; None without a baseline row or any of those figures.
    A baseline with seeds at chance gets no direction (`not judged: at chance`: its confidence says nothing about a
    model that learned), nor does one with a seed at the bound (`at_bound`)."""
    if not row or all(math.isnan(row.get(k, math.nan)) for k in ("temperature", "mean_confidence")):
        return None
    bound_seeds = [r.get("seed") for r in runs if r.get("temperature_at_bound") is True]
    fitted = [t for r in runs if r.get("temperature_at_bound") is not True
              and not math.isnan(t := views.number(r.get("temperature")))]
    temperature = sum(fitted) / len(fitted) if fitted else row["temperature"]  # else: every seed at the bound
    if row.get("at_chance_seeds"):
        direction = "not judged: at chance"
    elif bound_seeds:
        direction = "not judged: temperature at the search bound"
    else:
        direction = calibration_direction(temperature)
    return {"temperature": temperature, "mean_confidence": row["mean_confidence"], "accuracy": row["accuracy"],
            "direction": direction, "at_bound": bool(bound_seeds), "bound_seeds": bound_seeds,
            "all_at_bound": bool(bound_seeds) and not fitted}


def recommend(rows: dict[str, dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """(recommendation, why none): the method of a task's `rows` (as in `summarise`) with the lowest mean
    validation NLL after temperature scaling, with its test figures. Chosen on validation, never on the
    test set; methods with seeds at chance are not eligible."""
    measured = {m: r for m, r in rows.items() if not math.isnan(r.get("validation_nll_ts", math.nan))}
    if not measured:
        return None, "no run records the validation NLL after temperature scaling (`validation_ts`)"
    eligible = {m: r for m, r in measured.items() if not r["at_chance_seeds"]}
    if not eligible:
        return None, "every method with a validation NLL after temperature scaling has seeds at chance"
    best = min(eligible, key=lambda m: eligible[m]["validation_nll_ts"])
    row = eligible[best]
    test = {k: row[k] for k in views.RECOMMENDED}
    test.update({f"{k}_std": row[f"{k}_std"] for k in views.RECOMMENDED})
    return {"method": best, "validation_nll_ts": row["validation_nll_ts"],
            "validation_nll_ts_std": row["validation_nll_ts_std"], "n_seeds": row["n_seeds"],
            "chosen_on": "validation NLL after temperature scaling", "test": test}, ""


def against_baseline_ts(method: str, rows: dict[str, dict[str, Any]], baseline: str) -> dict[str, Any]:
    """Did `method` (the recommendation) beat `baseline` + temperature scaling on the test set: `verdict`
    (`beat`, `lost` or `unclear`: from the interval of the NLL after scaling, else its t-test) and the
    `changes` of `RECOMMENDED_VS_TS`."""
    if method == baseline:
        return {"verdict": "is the baseline", "changes": {}}
    changes = {m: c for m in views.RECOMMENDED_VS_TS if (c := rows.get(method, {}).get(f"{m}_change")) and c.get("n")}
    if not changes:
        return {"verdict": "unknown", "changes": {}}
    decisive = changes.get(views.RECOMMENDED_VS_TS[0])
    judged = "unclear" if decisive is None else judge(decisive, "lower")
    verdict = {"helps": "beat", "hurts": "lost"}.get(judged, "unclear")
    return {"verdict": verdict, "changes": changes}


def calibrated_to_ship(runs: list[dict]) -> str | None:
    """The `calibrated/` folder (written with `--save_calibrated` / a grid's `save_calibrated: true`) of the
    recommended method's seed with the lowest validation NLL after temperature scaling, or None."""
    written = [r for r in runs if r.get("calibrated") and r.get("_folder")
               and (Path(r["_folder"]) / str(r["calibrated"])).is_dir()]
    if not written:
        return None
    best = min(written, key=lambda r: _nan_high(views.number((r.get("validation_ts") or {}).get("nll"))))
    return str(Path(best["_folder"]) / str(best["calibrated"]))


def _column_changes(claim: Claim, rows: dict[str, dict], others: list[str]) -> dict[str, dict]:
    """{method: {metric: change}} from the summary rows' `<metric>_change` (t-test and, where the runs'
    predictions allow, the bootstrap interval), a metric older results lack replaced by its stand-in."""
    stand_in = dict(claim.stand_in)
    out = {}
    for m in others:
        changes = {}
        for metric in claim.metrics:
            change = rows[m].get(f"{metric}_change")
            if (not change or not change["n"]) and metric in stand_in:
                metric, change = stand_in[metric], rows[m].get(f"{stand_in[metric]}_change")
            if change and change["n"]:
                changes[metric] = change
        if changes:
            out[m] = changes
    return out


def _shift_changes(claim: Claim, pairs: dict[str, tuple[list[dict], list[dict]]], kinds: list[str]) -> dict[str, dict]:
    """{method: {metric: change}}: the accuracy on the shifted test sets of the kinds the claim selects, averaged
    per seed, against the runs each method is compared with (nothing when the task has none of those kinds)."""
    chosen = [k for k in kinds if claim.shift_kinds(k)]
    changes = {m: paired_change(*shift_means(base, runs, chosen)) for m, (base, runs) in pairs.items()} if chosen else {}
    return {m: {claim.metrics[0]: c} for m, c in changes.items() if c["n"]}


def _natural_changes(claim: Claim, pairs: dict[str, tuple[list[dict], list[dict]]]) -> dict[str, dict]:
    """{method: {metric: change}}: each figure of the claim on the natural-shift test sets, averaged per seed over
    the sets both sides have, against the runs each method is compared with: the paired t-test, and the bootstrap
    interval where every run's predictions of those sets load (`intervals.natural_intervals`)."""
    out = {}
    for method, (base, runs) in pairs.items():
        changes = {m: paired_change(*natural_means(base, runs, m)) for m in claim.metrics}
        if not any(c["n"] for c in changes.values()):
            continue
        row = {f"{m}_change": c for m, c in changes.items()}
        add_intervals({method: row}, {method: natural_intervals(base, runs, natural_common(base, runs), claim.metrics)})
        out[method] = {m: row[f"{m}_change"] for m, c in changes.items() if c["n"]}
    return out


def _claims(rows: dict[str, dict], pairs: dict[str, tuple[list[dict], list[dict]]], noise: float,
            shift: dict | None) -> dict[str, Any]:
    """The changes behind each claim of `CLAIMS` on one task of each method of `pairs` ({method: (the runs it is
    compared with, its runs)}) (claims without data, or not selecting this task's runs, left out)."""
    kinds = (shift or {}).get("kinds", [])
    claims: dict[str, Any] = {}
    for claim in CLAIMS:
        if claim.noisy_only and not noise > 0:
            continue
        changes = (_column_changes(claim, rows, list(pairs)) if claim.evidence == "columns"
                   else _shift_changes(claim, pairs, kinds) if claim.evidence == "shift"
                   else _natural_changes(claim, pairs))
        if changes:
            extra = {"kinds": [k for k in kinds if claim.shift_kinds(k)]} if claim.shift_kinds else {}
            claims[claim.name] = {"metric": ", ".join(claim.metrics), "better": claim.better, **extra,
                                  "changes": changes}
    return claims


def verdict(summary: dict[str, Any], alpha: float = views.ALPHA) -> dict[str, Any]:
    """Does mixing do what it is said to do? For each claim of `CLAIMS` and task with data (`claims` of the
    summary's tasks), the methods that help (p < `alpha`, the right sign), hurt (p < `alpha`, the wrong
    sign), are at chance (seeds that do not beat the majority class: no evidence either way) or show no
    significant change. Calibration rows carry the baseline's `baseline_calibration`."""
    rows = []
    for claim in CLAIMS:
        for label, info in summary["tasks"].items():
            data = (info.get("claims") or {}).get(claim.name)
            if not data:
                continue
            base = info["methods"].get(summary["baseline"], {})
            row: dict[str, Any] = {"claim": claim.name, "task": label, "base_task": info.get("task", label),
                                   "label_noise": info.get("label_noise", 0.0), "metric": data["metric"],
                                   "better": data["better"], "helps": [], "hurts": [], "no_change": [],
                                   "at_chance": [], "baseline_at_chance": bool(base.get("at_chance_seeds"))}
            if "kinds" in data:
                row["kinds"] = data["kinds"]
            for method, by_metric in data["changes"].items():
                first = next(iter(by_metric.values()))
                judged = {k: judge(c, data["better"], alpha) for k, c in by_metric.items()}
                entry = {"method": method, "compared_with": info["methods"].get(method, {}).get("compared_with"),
                         "delta": first["delta"], "p_value": first["p_value"], "n": first["n"],
                         "metrics": {k: {**c, "judged": judged[k]} for k, c in by_metric.items()},
                         "evidence": "bootstrap interval" if all("low" in c for c in by_metric.values())
                         else "paired t-test"}
                at_chance = info["methods"].get(method, {}).get("at_chance_seeds")
                verdicts = set(judged.values())
                if at_chance:
                    entry["at_chance_seeds"] = at_chance
                row["at_chance" if at_chance else "helps" if verdicts == {"helps"} else "hurts"
                    if verdicts == {"hurts"} else "no_change"].append(entry)
            if claim.shows_calibration:
                row["baseline_calibration"] = info.get("baseline_calibration")
            rows.append(row)
    return {"alpha": alpha, "test": "bootstrap interval (seeds, then test examples; paired) where the runs' "
            "predictions allow, else the paired t-test over seeds, against the baseline (an ensemble row: against "
            "its entry's `compared_with`)",
            "baseline": summary["baseline"], "claims": [c.name for c in CLAIMS], "rows": rows}
