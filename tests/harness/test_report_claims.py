"""The report's claims (verdict, shift, label noise, recommendation) against figures recomputed by hand.

One synthetic sweep of results.json files with known numbers (3 seeds), built once:

- `sst2` (text, baseline temperature 1.4): methods `none`; `better` (+0.10 accuracy on typo and swap, ECE
  -0.05, the lowest TEST NLL); `worse` (-0.10 on every shift, ECE +0.05); `equal` (zero-mean per-seed noise,
  the lowest validation NLL after temperature scaling of the eligible methods); `chance` (majority-class
  accuracy: at chance, the lowest validation NLL of all). Also trained at label noise 0.2 (`none`, `better`).
- `reviews` (text, temperature 0.8, no shift, no `validation_ts`);
- `digits` (images, temperature 1.0, gaussian_noise and occlusion);
- `rte`: an old results file without `test_set`, `modality` or temperature.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy.stats import ttest_rel

from textmix.harness.report import build_report
from textmix.harness.report.views import ALPHA

from .test_report import verdict_grids

SEEDS = (0, 1, 2)
JITTER = (0.004, -0.003, 0.001)
SMALL = (0.002, -0.001, 0.0005)
ZERO_MEAN = (0.01, -0.012, 0.003)  # mean 0.0003, sd 0.011: no significant change
SEVERITIES = (1, 3)
SST2_SET = "GLUE dev (277 rows)"

# sst2: clean test accuracy / ECE and shift offsets per method and seed
CLEAN_ACC = {"none": lambda s: 0.80 + JITTER[s], "better": lambda s: 0.81 + SMALL[s],
             "worse": lambda s: 0.79 + SMALL[s], "equal": lambda s: 0.80 + JITTER[s] + ZERO_MEAN[s],
             "chance": lambda s: 0.50}
CLEAN_ECE = {"none": lambda s: 0.10 + JITTER[s] / 2, "better": lambda s: 0.05 + JITTER[s] / 2 + SMALL[s],
             "worse": lambda s: 0.15 + JITTER[s] / 2 + SMALL[s], "equal": lambda s: 0.10 + JITTER[s] / 2 + ZERO_MEAN[s] / 2,
             "chance": lambda s: 0.01}
SHIFT_OFFSET = {  # (typo and swap, mask)
    "none": lambda s: (0.0, 0.0), "better": lambda s: (0.10 + SMALL[s], ZERO_MEAN[s]),
    "worse": lambda s: (-0.10 + SMALL[s], -0.10 + SMALL[s]), "equal": lambda s: (ZERO_MEAN[s], ZERO_MEAN[s]),
    "chance": None}
BASE_SHIFT = {"typo": lambda k, s: 0.78 - 0.05 * k + JITTER[s], "swap": lambda k, s: 0.76 - 0.04 * k + JITTER[s],
              "mask": lambda k, s: 0.70 - 0.06 * k + JITTER[s]}
TEST_NLL = {"none": 0.50, "better": 0.30, "worse": 0.60, "equal": 0.45, "chance": 0.69}
def nll_of(method, s):
    """A run's test NLL: the method's level, moving with its ECE from seed to seed (so changes have a spread)."""
    return TEST_NLL[method] + CLEAN_ECE[method](s) - 0.10


VAL_NLL_TS = {"none": 0.44, "better": 0.42, "worse": 0.50, "equal": 0.40, "chance": 0.10}


def shift_acc(method, kind, k, s):
    if method == "chance":
        return 0.5
    corrupt, masked = SHIFT_OFFSET[method](s)
    return BASE_SHIFT[kind](k, s) + (masked if kind == "mask" else corrupt)


def shift_ece(method, kind, k, s):
    return 0.15 + 0.02 * k + (CLEAN_ECE[method](s) - 0.10)


def result(task, method, seed, acc, ece, *, nll=0.5, brier=0.2, temperature=1.0, conf=None, val_nll=None, shift=None,
           test_set=None, modality="text", noise=None, majority=0.5):
    r = {"task": task, "method": method, "seed": seed, "problem_type": "classification", "modality": modality,
         "test_majority_accuracy": majority,
         "test": {"accuracy": acc, "ece": ece, "mce": 2 * ece, "adaptive_ece": ece, "brier": brier, "nll": nll,
                  "aurc": 0.3 - acc / 4, "accuracy_at_coverage_50": acc + 0.08, "accuracy_at_coverage_80": acc + 0.05,
                  "accuracy_at_coverage_90": acc + 0.02, "mean_confidence": acc + ece if conf is None else conf},
         "test_ts": {"ece": ece / 2, "nll": nll - 0.05}, "temperature": temperature, "train_time_s": 5.0,
         "config": {"data": {"task_name": task, "label_noise": noise or 0.0}, "training": {"mix_method": method}}}
    if val_nll is not None:
        r["validation_ts"] = {"accuracy": acc, "nll": val_nll}
    if shift is not None:
        r["shift"] = shift
    if test_set is not None:
        r["test_set"] = test_set
    if noise:
        r["label_noise"], r["label_noise_flipped"] = noise, 13
    return r


def sst2_run(method, s):
    shift = {kind: {str(k): {"accuracy": shift_acc(method, kind, k, s), "ece": shift_ece(method, kind, k, s),
                             "nll": 0.7, "brier": 0.3, "aurc": 0.2, "mean_confidence": 0.9, "ece_ts": 0.05,
                             "nll_ts": 0.6} for k in SEVERITIES} for kind in ("typo", "swap", "mask")}
    return result("sst2", method, s, CLEAN_ACC[method](s), CLEAN_ECE[method](s), nll=nll_of(method, s),
                  brier=0.2 + CLEAN_ECE[method](s) - 0.10,
                  temperature=1.4, conf=0.95 if method == "none" else None, val_nll=VAL_NLL_TS[method], shift=shift,
                  test_set=SST2_SET)


NOISY_ACC = {"none": lambda s: 0.70 + JITTER[s], "better": lambda s: 0.76 + SMALL[s]}
NOISY_ECE = {"none": lambda s: 0.20 + SMALL[s], "better": lambda s: 0.12 + JITTER[s]}
DIGITS_SHIFT = {"gaussian_noise": {"none": 0.60, "cutmix": 0.62}, "occlusion": {"none": 0.50, "cutmix": 0.70}}


def digits_run(method, s):
    shift = {kind: {str(k): {"accuracy": by[method] - 0.05 * k + JITTER[s] + (SMALL[s] if method != "none" else 0),
                             "ece": 0.1 * k} for k in (1, 2)} for kind, by in DIGITS_SHIFT.items()}
    return result("digits", method, s, 0.95 + JITTER[s], 0.02, temperature=1.0, conf=0.96, val_nll=0.2, shift=shift,
                  test_set="x_test/y_test of mnist.npz (10000 images)", modality="image", majority=0.11)


def write(root, folder, r):
    path = root / folder
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(r))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for s in SEEDS:
        for method in CLEAN_ACC:
            write(root, f"runs/sst2/{method}/seed{s}", sst2_run(method, s))
        for method in NOISY_ACC:
            write(root, f"runs/sst2/{method}/noise0.2/seed{s}",
                  result("sst2", method, s, NOISY_ACC[method](s), NOISY_ECE[method](s), temperature=1.2,
                         val_nll=0.6, test_set=SST2_SET, noise=0.2))
        for method, acc in (("none", 0.85), ("mixup", 0.86)):
            write(root, f"runs/reviews/{method}/seed{s}",
                  result("reviews", method, s, acc + JITTER[s], 0.05, temperature=0.8, conf=0.70,
                         test_set="reviews_test.csv (200 rows)"))
        for method in ("none", "cutmix"):
            write(root, f"runs/digits/{method}/seed{s}", digits_run(method, s))
        for method in ("none", "hidden"):
            old = result("rte", method, s, 0.70 + JITTER[s], 0.1)
            for key in ("test_set", "modality", "temperature"):
                old.pop(key, None)
            old["test"].pop("mean_confidence")
            write(root, f"runs/rte/{method}/seed{s}", old)
    plan = {"tasks": {"sst2": {"modality": "text", "test_set": SST2_SET, "methods": list(CLEAN_ACC),
                               "skipped_methods": {"cutmix": "mixes images; the task is text"}},
                      "digits": {"modality": "image", "test_set": "mnist", "methods": ["none", "cutmix"],
                                 "skipped_methods": {"span": "mixes token spans; the task is images",
                                                     "hidden": "needs a text encoder"}}},
            "label_noise": [0.0, 0.2], "shift": {}}
    (root / "plan.json").write_text(json.dumps(plan))
    summary = build_report(root)
    return root, summary, (root / "report.md").read_text(encoding="utf-8")


def section(md, heading):
    """The lines of report.md's section `heading` (up to the next `## `)."""
    lines = md.splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def means(f, seeds=SEEDS):
    return float(np.mean([f(s) for s in seeds]))


def test_label_noise_runs_are_a_task_of_their_own(sweep):
    _, summary, md = sweep
    noisy = summary["tasks"]["sst2 · label noise 0.2"]
    assert noisy["task"] == "sst2" and noisy["label_noise"] == 0.2 and noisy["label_noise_flipped"] == 13
    assert summary["tasks"]["sst2"]["label_noise"] == 0.0 and set(noisy["methods"]) == {"none", "better"}
    assert noisy["methods"]["better"]["accuracy"] == pytest.approx(means(NOISY_ACC["better"]))
    assert summary["tasks"]["sst2"]["methods"]["better"]["accuracy"] == pytest.approx(means(CLEAN_ACC["better"]))
    change = noisy["methods"]["better"]["ece_change"]
    a, b = [NOISY_ECE["none"](s) for s in SEEDS], [NOISY_ECE["better"](s) for s in SEEDS]
    assert change["p_value"] == pytest.approx(ttest_rel(b, a).pvalue)
    assert summary["clashes"] == []  # config.data.label_noise differs between the rates: not a clash
    assert "## sst2 · label noise 0.2" in md and "## sst2" in md
    assert list(summary["tasks"]).index("sst2") + 1 == list(summary["tasks"]).index("sst2 · label noise 0.2")


def test_each_task_says_what_its_test_set_is_and_what_was_skipped(sweep):
    _, summary, md = sweep
    assert "Test set = " not in md
    assert "Test set: GLUE dev (277 rows)." in section(md, "## sst2")
    assert "Test set: reviews_test.csv (200 rows)." in section(md, "## reviews")
    assert "Test set: x_test/y_test of mnist.npz (10000 images)." in section(md, "## digits")
    assert "Test set: GLUE dev." in section(md, "## rte")  # old results without `test_set`
    assert "Methods skipped on this task: cutmix (mixes images; the task is text)." in section(md, "## sst2")
    assert ("Methods skipped on this task: span (mixes token spans; the task is images), hidden (needs a text "
            "encoder).") in section(md, "## digits")
    assert not any(line.startswith("Methods skipped") for line in section(md, "## reviews"))
    assert summary["tasks"]["digits"]["modality"] == "image" and summary["tasks"]["rte"]["modality"] == "text"


def test_aurc_and_accuracy_at_80_percent_coverage_columns(sweep):
    root, summary, md = sweep
    assert "| NLL | AURC | acc@80% cov. | train time (s) |" in md
    row = summary["tasks"]["sst2"]["methods"]["better"]
    assert row["aurc"] == pytest.approx(means(lambda s: 0.3 - CLEAN_ACC["better"](s) / 4))
    assert row["accuracy_at_coverage_80"] == pytest.approx(means(lambda s: CLEAN_ACC["better"](s) + 0.05))
    with open(root / "report.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    better = next(r for r in rows if r["task"] == "sst2" and r["method"] == "better" and float(r["label_noise"]) == 0)
    assert float(better["aurc"]) == pytest.approx(row["aurc"])
    assert float(better["accuracy_at_coverage_80"]) == pytest.approx(row["accuracy_at_coverage_80"])
    assert sum(r["task"] == "sst2" for r in rows) == 5 + 2


@pytest.mark.parametrize("task, temperature, direction", [
    ("sst2", 1.4, "over-confident"), ("reviews", 0.8, "under-confident"), ("digits", 1.0, "close to calibrated")])
def test_the_baseline_miscalibration_direction(sweep, task, temperature, direction):
    _, summary, md = sweep
    info = summary["tasks"][task]
    calibration = info["baseline_calibration"]
    assert calibration["direction"] == direction and calibration["temperature"] == pytest.approx(temperature)
    accuracy = info["methods"]["none"]["accuracy"]
    confidence = {"sst2": 0.95, "reviews": 0.70, "digits": 0.96}[task]
    assert calibration["mean_confidence"] == pytest.approx(confidence)
    line = (f"Baseline `none`: temperature {temperature:.2f} ({direction}), mean confidence {confidence:.3f} vs "
            f"accuracy {accuracy:.3f}.")
    assert line in section(md, f"## {task}")
    assert summary["tasks"]["rte"]["baseline_calibration"] is None


def test_shift_table_holds_the_means_over_seeds(sweep):
    _, summary, md = sweep
    shift = summary["tasks"]["sst2"]["shift"]
    assert shift["kinds"] == ["typo", "swap", "mask"] and shift["severities"]["typo"] == ["1", "3"]
    for method in ("none", "better", "worse"):
        for kind in ("typo", "mask"):
            for k in SEVERITIES:
                acc = means(lambda s, m=method, kd=kind, k=k: shift_acc(m, kd, k, s))
                ece = means(lambda s, m=method, kd=kind, k=k: shift_ece(m, kd, k, s))
                cell = shift["methods"][method][kind][str(k)]
                assert cell["accuracy"] == pytest.approx(acc) and cell["ece"] == pytest.approx(ece)
                assert cell["accuracy_std"] == pytest.approx(
                    np.std([shift_acc(method, kind, k, s) for s in SEEDS], ddof=1))
                (line,) = [x for x in md.splitlines() if x.startswith(f"| {kind} | {method} |")]
                assert f"{acc:.4f} / {ece:.4f} / 0.0500" in line  # accuracy / ECE / ECE after scaling
                clean = (f"{means(CLEAN_ACC[method]):.4f} / {means(CLEAN_ECE[method]):.4f} / "
                         f"{means(CLEAN_ECE[method]) / 2:.4f}")
                assert line.split(" | ")[2] == clean  # severity 0: the clean test set
    # change in accuracy averaged over the kind's severities, paired against the baseline
    base = [np.mean([shift_acc("none", "typo", k, s) for k in SEVERITIES]) for s in SEEDS]
    worse = [np.mean([shift_acc("worse", "typo", k, s) for k in SEVERITIES]) for s in SEEDS]
    change = shift["change"]["worse"]["typo"]["accuracy"]
    assert change["delta"] == pytest.approx(np.mean(np.subtract(worse, base)))
    assert change["p_value"] == pytest.approx(ttest_rel(worse, base).pvalue)


def valid_png(path):
    assert path.stat().st_size > 1000
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


def test_shift_and_label_noise_plots_are_written_and_linked(sweep):
    root, summary, md = sweep
    valid_png(root / "shift_sst2.png")
    valid_png(root / "shift_digits.png")
    valid_png(root / "label_noise_sst2.png")
    assert not (root / "shift_reviews.png").exists() and not (root / "label_noise_digits.png").exists()
    assert {k: summary["plots"][k] for k in ("shift", "label_noise")} == {
        "shift": {"sst2": "shift_sst2.png", "digits": "shift_digits.png"}, "label_noise": {"sst2": "label_noise_sst2.png"}}
    assert "(shift_sst2.png)" in md and "(label_noise_sst2.png)" in md and "(reliability.png)" in md


def verdict_row(summary, claim, task):
    (row,) = [r for r in summary["verdict"]["rows"] if r["claim"] == claim and r["task"] == task]
    return row


def names(entries):
    return sorted(e["method"] for e in entries)


def test_the_verdict_sorts_methods_by_significance(sweep):
    _, summary, md = sweep
    assert summary["verdict"]["alpha"] == ALPHA == 0.05
    row = verdict_row(summary, "corruption robustness", "sst2")
    assert row["kinds"] == ["typo", "swap"]
    assert names(row["helps"]) == ["better"] and names(row["hurts"]) == ["worse"]
    assert names(row["no_change"]) == ["equal"] and names(row["at_chance"]) == ["chance"]
    corrupt = [("typo", k) for k in SEVERITIES] + [("swap", k) for k in SEVERITIES]
    base = [np.mean([shift_acc("none", kd, k, s) for kd, k in corrupt]) for s in SEEDS]
    better = [np.mean([shift_acc("better", kd, k, s) for kd, k in corrupt]) for s in SEEDS]
    helps = row["helps"][0]
    assert helps["delta"] == pytest.approx(np.mean(np.subtract(better, base)))
    assert helps["p_value"] == pytest.approx(ttest_rel(better, base).pvalue) and helps["p_value"] < ALPHA
    occlusion = verdict_row(summary, "occlusion robustness", "sst2")  # `mask`: better is level there
    assert occlusion["kinds"] == ["mask"] and names(occlusion["hurts"]) == ["worse"]
    assert names(occlusion["no_change"]) == ["better", "equal"] and occlusion["helps"] == []
    calibration = verdict_row(summary, "calibration", "sst2")
    assert names(calibration["helps"]) == ["better"] and names(calibration["hurts"]) == ["worse"]
    # judged on smECE (here its stand-in ECE: no smECE in these results), NLL and Brier, all agreeing
    assert set(calibration["helps"][0]["metrics"]) == {"ece", "nll", "brier"}
    after_ts = verdict_row(summary, "calibration after temperature scaling", "sst2")
    assert names(after_ts["helps"]) == ["better"] and names(after_ts["hurts"]) == ["worse"]
    assert calibration["baseline_calibration"]["direction"] == "over-confident"
    assert names(verdict_row(summary, "calibration", "reviews")["no_change"]) == ["mixup"]
    assert names(verdict_row(summary, "occlusion robustness", "digits")["helps"]) == ["cutmix"]
    assert names(verdict_row(summary, "label-noise tolerance", "sst2 · label noise 0.2")["helps"]) == ["better"]
    # a claim without data for a task is no row at all
    claims = {(r["claim"], r["task"]) for r in summary["verdict"]["rows"]}
    assert ("corruption robustness", "reviews") not in claims and ("label-noise tolerance", "sst2") not in claims
    assert ("corruption robustness", "rte") not in claims and ("calibration", "rte") in claims
    verdict = section(md, "## Does mixing do what it is said to do?")
    grid = verdict_grids(md)["corruption robustness"]
    assert {m: grid[m]["sst2"][0] for m in ("better", "worse", "equal", "chance")} == {
        "better": "▲", "worse": "▼", "equal": "·", "chance": "⚠"}
    assert grid["better"]["sst2"] == f"▲ {helps['delta']:+.4f}"
    line = next(x for x in verdict if x.startswith("| reviews |"))  # the table "What to use where"
    assert "temperature 0.80 (under-confident)" in line and "mean confidence 0.700 vs accuracy" in line
    text = "\n".join(verdict)
    assert "p < 0.05" in text and "2 seeds" in text and "little power" in text
    assert md.index("## Does mixing do what it is said to do?") < md.index("## sst2")


def test_the_recommendation_is_chosen_on_validation_never_on_test(sweep):
    _, summary, md = sweep
    info = summary["tasks"]["sst2"]
    # `better` has the best test NLL, `chance` the lowest validation NLL but is at chance: `equal` it is
    assert min(TEST_NLL, key=TEST_NLL.get) == "better"
    chosen = info["recommended"]
    assert chosen["method"] == "equal" and chosen["validation_nll_ts"] == pytest.approx(VAL_NLL_TS["equal"])
    assert chosen["test"]["accuracy"] == pytest.approx(means(CLEAN_ACC["equal"]))
    assert chosen["test"]["ece"] == pytest.approx(means(CLEAN_ECE["equal"]))
    assert chosen["test"]["ece_ts"] == pytest.approx(means(CLEAN_ECE["equal"]) / 2)
    assert chosen["test"]["nll"] == pytest.approx(means(lambda s: nll_of("equal", s)))
    (line,) = [x for x in section(md, "## sst2") if x.startswith("Recommended:")]
    assert "**equal**" in line and "chosen on validation NLL after temperature scaling" in line
    assert f"accuracy {means(CLEAN_ACC['equal']):.4f}" in line
    assert summary["tasks"]["reviews"]["recommended"] is None  # no validation_ts in its runs
    assert any(x.startswith("No recommendation:") and "validation_ts" in x for x in section(md, "## reviews"))


# ------------------------------------------------------------------ known answers on hand-made rows


def test_a_temperature_within_1_percent_of_a_search_bound_is_the_bound():
    """The rule behind each run's `temperature_at_bound`, which the report reads."""
    from textmix.calibration.temperature import MAX_TEMPERATURE, MIN_TEMPERATURE, at_search_bound

    assert at_search_bound(MAX_TEMPERATURE) and at_search_bound(MAX_TEMPERATURE * 0.99)
    assert not at_search_bound(MAX_TEMPERATURE * 0.989)
    assert at_search_bound(MIN_TEMPERATURE) and at_search_bound(MIN_TEMPERATURE * 1.01)
    assert not at_search_bound(MIN_TEMPERATURE * 1.011)
    assert not at_search_bound(1.0) and not at_search_bound(math.nan)


def _row(val_nll: float, at_chance: list[int] | None = None) -> dict:
    from textmix.harness.report.views import RECOMMENDED

    row = {"validation_nll_ts": val_nll, "validation_nll_ts_std": 0.01, "n_seeds": 3, "at_chance_seeds": at_chance or []}
    for k in RECOMMENDED:
        row[k], row[f"{k}_std"] = 0.5, 0.0
    return row


def test_the_recommendation_is_the_lowest_validation_nll_among_methods_that_learned():
    from textmix.harness.report.claims import recommend

    rows = {"none": _row(0.40), "mixup": _row(0.35), "span": _row(0.30, at_chance=[1]), "old": _row(math.nan)}
    chosen, why = recommend(rows)
    assert chosen is not None and chosen["method"] == "mixup" and chosen["validation_nll_ts"] == 0.35 and why == ""
    assert recommend({"span": _row(0.3, at_chance=[0])})[0] is None
    assert recommend({"old": _row(math.nan)})[0] is None


@pytest.mark.parametrize(("change", "verdict"), [
    ({"delta": -0.1, "p_value": math.nan, "n": 3, "low": -0.2, "high": -0.01}, "beat"),
    ({"delta": 0.1, "p_value": math.nan, "n": 3, "low": 0.01, "high": 0.2}, "lost"),
    ({"delta": -0.1, "p_value": math.nan, "n": 3, "low": -0.2, "high": 0.0}, "unclear"),
    ({"delta": -0.1, "p_value": 0.01, "n": 3}, "beat"),
    ({"delta": -0.1, "p_value": 0.05, "n": 3}, "unclear"),  # p = alpha is not significant
])
def test_the_recommendation_against_the_baseline_after_scaling(change, verdict):
    from textmix.harness.report.claims import against_baseline_ts

    rows = {"mixup": {"nll_ts_change": change, "smece_ts_change": {"delta": 0.5, "p_value": 0.001, "n": 3}}}
    got = against_baseline_ts("mixup", rows, "none")
    assert got["verdict"] == verdict and set(got["changes"]) == {"nll_ts", "smece_ts"}
    assert against_baseline_ts("none", rows, "none")["verdict"] == "is the baseline"
    assert against_baseline_ts("span", rows, "none")["verdict"] == "unknown"


def test_the_verdict_needs_every_metric_of_a_claim_to_agree():
    from textmix.harness.report.claims import verdict

    helps = {"delta": -0.1, "p_value": 0.01, "n": 3}
    hurts = {"delta": 0.1, "p_value": 0.01, "n": 3}
    unclear = {"delta": -0.1, "p_value": 0.5, "n": 3}
    changes = {"a": {"smece": helps, "nll": helps}, "b": {"smece": helps, "nll": unclear},
               "c": {"smece": hurts, "nll": hurts}, "d": {"smece": helps, "nll": hurts}, "e": {"smece": helps}}
    methods = {m: {"at_chance_seeds": [2] if m == "e" else []} for m in ("none", *changes)}
    summary = {"baseline": "none", "tasks": {"t": {"task": "t", "methods": methods, "claims": {
        "calibration": {"metric": "smece, nll", "better": "lower", "changes": changes}}}}}
    (row,) = [r for r in verdict(summary)["rows"] if r["claim"] == "calibration"]
    names = {k: [e["method"] for e in row[k]] for k in ("helps", "hurts", "no_change", "at_chance")}
    assert names == {"helps": ["a"], "hurts": ["c"], "no_change": ["b", "d"], "at_chance": ["e"]}
    assert row["helps"][0]["evidence"] == "paired t-test" and row["helps"][0]["delta"] == -0.1


NATURAL = {"imdb": 0.30, "yelp": 0.20}  # each set's level of smECE, NLL and Brier for `none`
NATURAL_OFFSET = {"none": lambda s: (0.0, 0.0, 0.0), "better": lambda s: (-0.05 + SMALL[s],) * 3,
                  "worse": lambda s: (0.05 + SMALL[s],) * 3, "split": lambda s: (-0.05 + SMALL[s], 0.05 + SMALL[s], 0.0),
                  "equal": lambda s: (ZERO_MEAN[s],) * 3}


def natural_run(method, s):
    r = result("books", method, s, 0.80 + JITTER[s], 0.1, val_nll=0.4)
    r["natural_shift"] = {name: f"{name} reviews" for name in NATURAL}
    for i, (name, level) in enumerate(NATURAL.items()):
        offsets = NATURAL_OFFSET[method](s)
        r[f"test_{name}"] = {"accuracy": 0.7 - i / 10, **{k: level + JITTER[s] + o
                                                           for k, o in zip(("smece", "nll", "brier"), offsets, strict=True)}}
    return r


def test_the_natural_shift_claim_needs_smece_nll_and_brier_to_agree():
    from textmix.harness.report.summary import summarise

    summary = summarise([natural_run(m, s) for m in NATURAL_OFFSET for s in SEEDS])
    (row,) = [r for r in summary["verdict"]["rows"] if r["claim"] == "calibration under natural shift"]
    placed = {e["method"]: key for key in ("helps", "hurts", "no_change", "at_chance") for e in row[key]}
    assert placed == {"better": "helps", "worse": "hurts", "split": "no_change", "equal": "no_change"}
    entry = next(e for e in row["helps"] if e["method"] == "better")
    for k, metric in enumerate(("smece", "nll", "brier")):  # per seed the mean over the two sets, paired by seed
        base = [np.mean([level + JITTER[s] for level in NATURAL.values()]) for s in SEEDS]
        other = [np.mean([level + JITTER[s] + NATURAL_OFFSET["better"](s)[k] for level in NATURAL.values()])
                 for s in SEEDS]
        assert entry["metrics"][metric]["delta"] == pytest.approx(np.mean(np.subtract(other, base)))
        assert entry["metrics"][metric]["p_value"] == pytest.approx(ttest_rel(other, base).pvalue)
    table = summary["tasks"]["books"]["natural_shift"]
    assert table["sets"] == {"imdb": "imdb reviews", "yelp": "yelp reviews"}
    assert table["methods"]["worse"]["yelp"]["nll"] == pytest.approx(means(lambda s: 0.20 + JITTER[s] + 0.05 + SMALL[s]))
    assert table["methods"]["none"]["imdb"]["accuracy"] == pytest.approx(0.7) and table["methods"]["none"]["imdb"]["n_seeds"] == 3


def test_no_best_method_where_every_method_is_at_chance():
    from textmix.harness.report.summary import summarise

    runs = [result("rte", m, s, 0.5 + JITTER[s] / 4, 0.05 + i / 100) for i, m in enumerate(("none", "span")) for s in SEEDS]
    info = summarise(runs)["tasks"]["rte"]
    assert info["all_at_chance"] and info["best"] == {"task_metric": None, "ece": None, "ece_ts": None}


def test_the_baseline_temperature_leaves_out_the_seeds_at_the_search_bound():
    from textmix.harness.report.summary import summarise

    temperatures = {0: 1.5, 1: 2.0, 2: 100.0}
    runs = [{**result("sst2", "none", s, 0.8 + JITTER[s], 0.1, temperature=t), "temperature_at_bound": s == 2}
            for s, t in temperatures.items()]
    calibration = summarise(runs)["tasks"]["sst2"]["baseline_calibration"]
    assert calibration["temperature"] == pytest.approx(1.75) and calibration["bound_seeds"] == [2]
    assert calibration["direction"] == "not judged: temperature at the search bound"
