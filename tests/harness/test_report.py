"""Report figures against numpy/scipy recomputations on synthetic results."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re

import numpy as np
import pytest
from scipy.stats import ttest_rel

from textmix.harness.cli import main
from textmix.harness.report import build_report, write_report
from textmix.harness.report.claims import calibration_direction
from textmix.harness.report.reading import find_clashes, label_noise, scan, variant_label
from textmix.harness.report.statistics import paired_change
from textmix.harness.report.summary import summarise
from textmix.harness.report.views import OVERCONFIDENT_T, UNDERCONFIDENT_T

MARKS = {"helps": "▲", "hurts": "▼", "no_change": "·", "at_chance": "⚠"}  # the grid's symbols, written out
GRID_CELL = re.compile(r"–|[▲▼·⚠] [+-]\d\.\d{4}")
""" A verdict cell: one symbol and one figure, or nothing."""


def split(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split(" | ")]


def verdict_grids(md: str) -> dict[str, dict[str, dict[str, str]]]:
    """report.md's verdict grids as {claim: {row: {task: cell}}}: the `| method | <tasks> |` table under each
    `### <claim>` of the verdict section, before its `### Details`."""
    lines = md.splitlines()
    start = lines.index("## Does mixing do what it is said to do?")
    end = lines.index("### Details", start)
    grids, claim = {}, None
    for i in range(start, end):
        if lines[i].startswith("### "):
            claim = lines[i][4:]
        elif lines[i].startswith("| method | "):
            tasks = [t.removesuffix(" ⚠") for t in split(lines[i])[1:]]
            rows = itertools.takewhile(lambda x: x.startswith("|"), lines[i + 2:end])
            grids[claim] = {cells[0]: dict(zip(tasks, cells[1:], strict=True)) for cells in map(split, rows)}
    return grids


def result(task, method, seed, acc, ece, majority=0.6):
    return {"task": task, "method": method, "seed": seed, "test_majority_accuracy": majority,
            "test": {"accuracy": acc, "f1": acc - 0.1, "ece": ece, "mce": 2 * ece, "adaptive_ece": ece, "brier": 0.3,
                     "nll": 0.5},
            "test_ts": {"ece": ece / 2}, "train_time_s": 10.0 + seed}


def test_summary_means_stds_changes_and_best():
    accs = {"none": [0.80, 0.82, 0.78], "span": [0.81, 0.84, 0.80], "hidden": [0.61, 0.70, 0.75]}
    eces = {"none": [0.10, 0.12, 0.08], "span": [0.05, 0.06, 0.04], "hidden": [0.01, 0.02, 0.03]}
    results = [result("sst2", m, s, accs[m][s], eces[m][s]) for m in accs for s in range(3)]
    summary = summarise(results, baseline="none", order={"methods": ["none", "span", "hidden"]})
    rows = summary["tasks"]["sst2"]["methods"]
    assert list(rows) == ["none", "span", "hidden"]
    assert rows["span"]["accuracy"] == pytest.approx(np.mean(accs["span"]))
    assert rows["span"]["ece_std"] == pytest.approx(np.std(eces["span"], ddof=1))
    change = rows["span"]["ece_change"]
    assert change["delta"] == pytest.approx(np.mean(np.array(eces["span"]) - eces["none"]))
    assert change["p_value"] == pytest.approx(ttest_rel(eces["span"], eces["none"]).pvalue)
    assert rows["hidden"]["at_chance_seeds"] == [0]  # 0.61 does not beat 0.6 + 0.02
    best = summary["tasks"]["sst2"]["best"]
    assert best["ece"] == "span" and best["task_metric"] == "span"  # hidden is excluded: a seed at chance


def test_columns_come_from_one_declaration_with_their_metadata():
    from textmix.harness.figures import FIGURE
    from textmix.harness.report.views import run_values

    lower = {n for n, f in FIGURE.items() if f.higher_is_better is False}
    assert {"smece", "smece_ts", "nll_ts", "brier_ts", "ece_sweep"} <= lower
    assert "temperature" not in lower and "accuracy" not in lower
    assert FIGURE["smece"].bounds == (0.0, 1.0) and FIGURE["smece"].higher_is_better is False
    run = {"task": "rte", "test": {"accuracy": 0.7, "smece": 0.11, "ece_sweep": 0.12, "nll": 0.6, "brier": 0.4},
           "test_ts": {"smece": 0.05, "nll": 0.55, "brier": 0.38}, "validation_ts": {"nll": 0.5}, "temperature": 1.3}
    values = run_values(run)
    assert (values["smece"], values["smece_ts"], values["ece_sweep"]) == (0.11, 0.05, 0.12)
    assert (values["nll_ts"], values["brier_ts"], values["validation_nll_ts"]) == (0.55, 0.38, 0.5)
    assert values["temperature"] == 1.3 and math.isnan(values["aurc"])


def test_paired_change_needs_matching_seeds():
    out = paired_change({0: 1.0, 1: 2.0}, {1: 2.5, 2: 9.0})
    assert out["n"] == 1 and out["delta"] == 0.5 and math.isnan(out["p_value"])


def test_build_report_writes_every_file(tmp_path):
    for m in ("none", "span"):
        for s in range(2):
            folder = tmp_path / "runs" / "rte" / m / f"seed{s}"
            folder.mkdir(parents=True)
            r = result("rte", m, s, 0.7 + 0.01 * s, 0.1 - 0.02 * s)
            (folder / "results.json").write_text(json.dumps(r))
            rng = np.random.default_rng(s)
            np.savez(folder / "predictions.npz", test_logits=rng.normal(size=(40, 2)), test_labels=rng.integers(0, 2, 40))
    summary = build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## rte" in md and "| span |" in md and "reliability.png" in md
    csv_text = (tmp_path / "report.csv").read_text().splitlines()
    assert csv_text[0].startswith("task,method") and len(csv_text) == 3
    assert json.loads((tmp_path / "report.json").read_text())["tasks"]["rte"]["methods"]["span"]["n_seeds"] == 2
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert summary["meta"]["n_runs"] == 4
    with pytest.raises(FileNotFoundError, match="textmix compare"):
        build_report(tmp_path / "empty")


def write_run(root, folder, r, logits_seed=0):
    path = root / folder
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(r))
    rng = np.random.default_rng(logits_seed)
    np.savez(path / "predictions.npz", test_logits=rng.normal(size=(20, 2)), test_labels=rng.integers(0, 2, 20))
    return path


def test_a_truncated_results_file_is_named_skipped_and_listed(tmp_path):
    for s in range(2):
        write_run(tmp_path, f"runs/rte/none/seed{s}", result("rte", "none", s, 0.7, 0.1))
    broken = write_run(tmp_path, "runs/rte/span/seed0", result("rte", "span", 0, 0.7, 0.1)) / "results.json"
    broken.write_text(broken.read_text()[:40])
    with pytest.warns(UserWarning, match=f"{broken}.*not valid JSON.*skipped"):
        summary = build_report(tmp_path)
    assert summary["skipped"] == [{"file": str(broken), "reason": summary["skipped"][0]["reason"]}]
    assert "span" not in summary["tasks"]["rte"]["methods"]
    assert str(broken) in (tmp_path / "report.md").read_text()


def configured(task, method, seed, acc, smoothing):
    r = result(task, method, seed, acc, 0.1)
    r["config"] = {"model": {"model_name_or_path": "/somewhere/bert-tiny"},
                   "data": {"task_name": task, "glue_dir": "/data/glue", "max_seq_length": 64},
                   "training": {"mix_method": "none", "label_smoothing_factor": smoothing, "seed": seed,
                                "output_dir": f"runs/{task}/x/seed{seed}", "learning_rate": 1e-4}}
    return r


def test_runs_of_different_configurations_are_never_merged(tmp_path, capsys):
    """Recipe runs of `none` and of label smoothing both stored `method: none` (before the recipe named them):
    the report must not pool them into one row claiming 6 seeds."""
    for s in range(3):
        write_run(tmp_path, f"runs/rte/none/seed{s}", configured("rte", "none", s, 0.70, 0.0), s)
        write_run(tmp_path, f"runs/rte/label_smoothing/seed{s}", configured("rte", "none", s, 0.90, 0.1), 10 + s)
        write_run(tmp_path, f"runs/rte/span/seed{s}", {**configured("rte", "span", s, 0.8, 0.0)}, 20 + s)
    summary = build_report(tmp_path)
    rows = summary["tasks"]["rte"]["methods"]
    assert all(row["n_seeds"] <= 3 for row in rows.values())
    assert "none" not in rows and rows["span"]["n_seeds"] == 3
    (clash,) = summary["clashes"]
    assert (clash["task"], clash["method"]) == ("rte", "none") and len(clash["folders"]) == 6
    assert "training.label_smoothing_factor" in clash["reason"]
    md = (tmp_path / "report.md").read_text()
    assert "## Clashes" in md and "runs/rte/label_smoothing/seed0" in md
    assert main(["report", str(tmp_path)]) == 1
    assert "rte/none" in capsys.readouterr().err


def test_runs_that_differ_only_in_paths_and_seeds_are_one_configuration(tmp_path):
    for s in range(2):
        r = configured("rte", "none", s, 0.7, 0.0)
        r["config"]["model"]["model_name_or_path"] = f"/elsewhere{s}/bert-tiny"
        r["config"]["data"]["glue_dir"] = f"/copy{s}/glue"
        write_run(tmp_path, f"runs/rte/none/seed{s}", r, s)
    summary = build_report(tmp_path)
    assert summary["clashes"] == [] and summary["tasks"]["rte"]["methods"]["none"]["n_seeds"] == 2


def test_the_same_seed_twice_is_a_clash(tmp_path):
    write_run(tmp_path, "runs/rte/none/seed0", configured("rte", "none", 0, 0.7, 0.0))
    write_run(tmp_path, "runs/rte/none/seed0-copy", configured("rte", "none", 0, 0.7, 0.0))
    summary = build_report(tmp_path / "")
    (clash,) = summary["clashes"]
    assert "seed 0" in clash["reason"]


def test_token_classification_runs_are_judged_by_entity_f1():
    """NER runs: the task metric is entity F1, and a run is at chance when its entity F1 is not above the
    margin (answering O everywhere scores 0 at a token accuracy near the majority tag's share)."""
    def token_run(method, f1, acc):
        r = result("wnut17", method, 0, acc, 0.03, majority=0.9256)
        r["problem_type"], r["test"]["entity_f1"] = "token", f1
        return r

    summary = summarise([token_run("none", 0.20, 0.9315), token_run("hidden", 0.0, 0.9256)])
    task = summary["tasks"]["wnut17"]
    assert task["metric"] == "entity_f1" and task["methods"]["none"]["task_metric"] == 0.20
    assert task["methods"]["none"]["at_chance_seeds"] == [] and task["methods"]["hidden"]["at_chance_seeds"] == [0]
    assert summarise([result("sst2", "none", 0, 0.61, 0.1)])["tasks"]["sst2"]["metric"] == "accuracy"


def test_scan_finds_runs_trained_with_label_noise_and_still_skips_damaged_files(tmp_path):
    write_run(tmp_path, "runs/rte/none/seed0", result("rte", "none", 0, 0.7, 0.1))
    noisy = {**result("rte", "none", 0, 0.6, 0.2), "label_noise": 0.2, "label_noise_flipped": 12}
    write_run(tmp_path, "runs/rte/none/noise0.2/seed0", noisy)
    write_run(tmp_path, "runs/rte/none/noise0.4/seed0", result("rte", "none", 0, 0.55, 0.2))  # older: no field
    broken = write_run(tmp_path, "runs/rte/span/noise0.2/seed1", noisy) / "results.json"
    broken.write_text(broken.read_text()[:30])
    with pytest.warns(UserWarning, match="not valid JSON"):
        results, skipped = scan(tmp_path)
    assert [s["file"] for s in skipped] == [str(broken)]
    assert sorted(label_noise(r) for r in results) == [0.0, 0.2, 0.4]  # 0.4: from the folder's name
    summary = summarise(results)
    assert list(summary["tasks"]) == ["rte", "rte · label noise 0.2", "rte · label noise 0.4"]
    assert summary["tasks"]["rte · label noise 0.2"]["methods"]["none"]["accuracy"] == 0.6
    assert variant_label("rte", 0.0) == "rte" and variant_label("rte", 0.25) == "rte · label noise 0.25"


def test_two_noise_rates_are_no_clash_but_a_repeated_seed_at_one_rate_is():
    runs = []
    for noise in (0.0, 0.2):
        for s in range(2):
            r = configured("rte", "none", s, 0.7, 0.0)
            r["config"]["data"]["label_noise"], r["label_noise"] = noise, noise
            runs.append(r)
    kept, clashes = find_clashes(runs)
    assert clashes == [] and len(kept) == 4
    kept, clashes = find_clashes([*runs, {**runs[-1]}])
    (clash,) = clashes
    assert clash["task"] == "rte · label noise 0.2" and "seed 1 appears 2 times" in clash["reason"] and len(kept) == 2


def test_a_torchrun_seed_beside_a_python_seed_is_no_clash():
    """local_rank (and hub_token) differ between processes, not experiments: as in a checkpoint's identity."""
    runs = [configured("rte", "none", s, 0.7, 0.0) for s in range(2)]
    runs[1]["config"]["training"] = {**runs[1]["config"].get("training", {}), "local_rank": 0}
    kept, clashes = find_clashes(runs)
    assert clashes == [] and len(kept) == 2
    runs[1]["config"]["training"]["learning_rate"] = 1.0  # a real difference still is one
    assert find_clashes(runs)[1]


def test_calibration_direction_thresholds():
    assert (OVERCONFIDENT_T, UNDERCONFIDENT_T) == (1.05, 0.95)
    assert calibration_direction(1.06) == "over-confident" and calibration_direction(0.94) == "under-confident"
    assert calibration_direction(1.05) == calibration_direction(0.95) == "close to calibrated"
    assert calibration_direction(math.nan) == "unknown"


def test_the_test_set_argument_is_only_the_fallback(tmp_path):
    runs = [result("tiny", m, 0, 0.9, 0.1, majority=0.4) for m in ("none", "cutmix")]
    summary = write_report(runs, tmp_path / "a", test_set="the data's test split", source="`recipe --compare`")
    md = (tmp_path / "a" / "report.md").read_text()
    assert "Test set: the data's test split." in md and summary["tasks"]["tiny"]["test_set"] == "the data's test split"
    assert "Test set: GLUE dev." in (write_report(runs, tmp_path / "b"), (tmp_path / "b" / "report.md").read_text())[1]
    named = [{**r, "test_set": "tiny.npz test (32 images)"} for r in runs]
    write_report(named, tmp_path / "c", test_set="the data's test split")
    assert "Test set: tiny.npz test (32 images)." in (tmp_path / "c" / "report.md").read_text()
    header = (tmp_path / "c" / "report.csv").read_text().splitlines()[0].split(",")
    assert {"label_noise", "aurc", "aurc_std", "accuracy_at_coverage_80"} <= set(header)
    assert not list((tmp_path / "c").glob("shift_*.png"))  # no shift results, no shift plot


def test_a_single_seed_is_never_significant():
    runs = [result("rte", "none", 0, 0.70, 0.10), result("rte", "span", 0, 0.90, 0.01)]
    rows = summarise(runs)["verdict"]["rows"]
    assert {row["claim"] for row in rows} == {"calibration", "calibration after temperature scaling"}
    for row in rows:
        assert row["helps"] == [] and [e["method"] for e in row["no_change"]] == ["span"]


def test_a_one_seed_cell_prints_no_std_and_says_its_interval_is_over_examples_only(tmp_path):
    def run(method, seed, acc, ece):
        return {**result("rte", method, seed, acc, ece), "temperature": 1.5}

    write_run(tmp_path, "runs/rte/none/seed0", run("none", 0, 0.70, 0.10), logits_seed=1)
    write_run(tmp_path, "runs/rte/mixup/seed0", run("mixup", 0, 0.75, 0.05), logits_seed=2)
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    report = json.loads((tmp_path / "report.json").read_text())
    assert math.isnan(report["tasks"]["rte"]["methods"]["mixup"]["accuracy_std"])  # undefined, not 0
    assert "± 0.0000" not in md and "± nan" not in md and "| mixup | 0.7500 |" in md
    details = next(line for line in md.splitlines() if line.startswith("| rte | mixup |"))  # the calibration claim's
    assert "] ±" in details and "(1 seed)" in details
    assert "resamples the test examples only" in md
    write_run(tmp_path, "runs/rte/none/seed1", run("none", 1, 0.60, 0.12), logits_seed=3)
    write_run(tmp_path, "runs/rte/mixup/seed1", run("mixup", 1, 0.65, 0.07), logits_seed=4)
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert "| mixup | 0.7000 ± 0.0707 |" in md  # two seeds: a std, an interval over both
    assert not any(line.startswith("| rte | mixup |") and "(1 seed)" in line for line in md.splitlines())


def test_a_grid_whose_tasks_are_dicts_orders_the_report(tmp_path):
    for task in ("reviews", "rte"):
        write_run(tmp_path, f"runs/{task}/none/seed0", result(task, "none", 0, 0.7, 0.1))
    grid = {"tasks": ["rte", {"name": "reviews", "train_file": "x.csv"}], "methods": ["none", "span"]}
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    assert list(build_report(tmp_path)["tasks"]) == ["rte", "reviews"]


def test_an_at_chance_baseline_gets_no_direction_and_a_bound_temperature_is_marked():
    from textmix.calibration import fit_temperature
    from textmix.calibration.temperature import at_search_bound
    from textmix.harness.report.claims import baseline_calibration
    from textmix.harness.report.markdown import baseline_line

    # the case seen: at chance, a fitted 0.93 read as "under-confident" beside confidence 0.118 vs accuracy 0.016
    chance = baseline_calibration({"temperature": 0.93, "mean_confidence": 0.118, "accuracy": 0.016,
                                   "at_chance_seeds": [0, 1]}, [])
    line = baseline_line("none", chance)
    assert "under-confident" not in line and "temperature 0.93 (not judged: at chance)" in line
    # confidently wrong on every row: the NLL falls all the way to the search's upper end, where the fit stops
    logits = np.tile([[4.0, 0.0, 0.0]], (30, 1))
    temperature = fit_temperature(logits, np.full(30, 1))
    assert temperature > 99
    runs = [{"temperature_at_bound": at_search_bound(temperature, logits=logits, labels=np.full(30, 1))}]
    bound = baseline_calibration({"temperature": temperature, "mean_confidence": 0.96, "accuracy": 0.5,
                                  "at_chance_seeds": []}, runs)
    assert bound["at_bound"] and "over-confident" not in baseline_line("none", bound)
    assert f"temperature {temperature:.2f} (the search bound, not a fit)" in baseline_line("none", bound)
    fitted = baseline_calibration({"temperature": 1.4, "mean_confidence": 0.95, "accuracy": 0.8, "at_chance_seeds": []},
                                  [{"temperature_at_bound": False}])
    assert fitted["direction"] == "over-confident" and not fitted["at_bound"]
    # the report reads each run's `temperature_at_bound` (written by the recipe), never recomputes it
    said = baseline_calibration({"temperature": 1.4, "mean_confidence": 0.95, "accuracy": 0.8, "at_chance_seeds": []},
                                [{"temperature_at_bound": False}, {"temperature_at_bound": True}])
    assert said["at_bound"] and said["direction"] == "not judged: temperature at the search bound"
    assert not baseline_calibration({"temperature": 100.0, "mean_confidence": 0.9, "accuracy": 0.8,
                                     "at_chance_seeds": []}, [{"temperature_at_bound": False}])["at_bound"]
    # the seeds whose temperature hit the bound, where the summary names them
    named = {**said, "temperature": 1.3, "bound_seeds": [0, 2], "all_at_bound": False}
    assert "temperature 1.30 (the mean of the fitted seeds; seeds 0, 2 hit the search bound)" in baseline_line(
        "none", named)
    assert "not a fit" not in baseline_line("none", named)


def test_the_recommendation_names_the_calibrated_model_of_its_best_validation_seed(tmp_path):
    for method, val in (("none", (0.50, 0.52)), ("span", (0.40, 0.30))):
        for seed in (0, 1):
            r = result("rte", method, seed, 0.8, 0.1)
            r.update(validation_ts={"nll": val[seed]}, calibrated="calibrated")
            folder = write_run(tmp_path, f"runs/rte/{method}/seed{seed}", r)
            (folder / "calibrated").mkdir()
    info = build_report(tmp_path)["tasks"]["rte"]
    assert info["recommended"]["method"] == "span"
    assert info["recommended"]["calibrated_model"] == str(tmp_path / "runs/rte/span/seed1/calibrated")
    assert "runs/rte/span/seed1/calibrated" in (tmp_path / "report.md").read_text()


# ------------------------------------------------------------------ the verdict at a glance

GLANCE_N = 400
SCALE = {"none": 3.0, "span": 1.0, "mixup": 6.0, "chance": 1.0}
"""rte's logits: SCALE x z, labels drawn from sigmoid(z): `span` calibrated, `none` over-confident, `mixup` more so;
`chance` scores the majority class's accuracy. Each temperature is the scale, so after scaling all are alike."""
SST2_ECE = {"none": (0.10, 0.12, 0.08), "span": (0.11, 0.10, 0.095)}
"""sst2 has no predictions: its changes are the paired t-test's over these ECEs (NLL and Brier the same on every run)."""


def glance_run(seed):
    rng = np.random.default_rng(50 + seed)
    z = rng.normal(0, 1.5, GLANCE_N)
    return z, (rng.uniform(size=GLANCE_N) < 1 / (1 + np.exp(-z))).astype(np.int64)


@pytest.fixture(scope="module")
def glance(tmp_path_factory):
    """(folder, summary, report.md, the reliability figures drawn) of a sweep of rte (with predictions) and sst2."""
    import textmix.calibration.reliability as rel
    import textmix.harness.report.intervals as intervals
    from textmix.calibration import expected_calibration_error
    from textmix.harness.figures import FIGURE

    root, figures = tmp_path_factory.mktemp("glance"), []
    for s in range(3):
        z, labels = glance_run(s)
        for method, scale in SCALE.items():
            logits = np.stack([np.zeros(GLANCE_N), scale * z], axis=1)
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            r = {**result("rte", method, s, 0.6 if method == "chance" else 0.75,
                          expected_calibration_error(logits, labels)), "temperature": scale,
                 "validation_ts": {"nll": 0.4 + (method != "span") / 10}}
            r["test"].update(nll=float(FIGURE["nll"].per_example(probs, labels).mean()),
                             brier=float(FIGURE["brier"].per_example(probs, labels).mean()))
            folder = root / "runs" / "rte" / method / f"seed{s}"
            folder.mkdir(parents=True)
            (folder / "results.json").write_text(json.dumps(r))
            np.savez(folder / "predictions.npz", test_logits=logits, test_labels=labels)
        for method, eces in SST2_ECE.items():
            write_run(root, f"runs/sst2/{method}/seed{s}", result("sst2", method, s, 0.8, eces[s])).joinpath(
                "predictions.npz").unlink()
    pool, intervals.POOL = intervals.POOL, 100  # the fewest resamples allowed: a faster test
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rel, "_save", lambda fig, path, save=rel._save: (figures.append(fig), save(fig, path)))
        try:
            summary = build_report(root)
        finally:
            intervals.POOL = pool
    return root, summary, (root / "report.md").read_text(encoding="utf-8"), figures


def test_every_verdict_cell_holds_one_symbol_and_one_figure(glance, tmp_path):
    from textmix.harness.report.markdown import write_markdown

    _, summary, md, _ = glance
    grids = verdict_grids(md)
    rows = summary["verdict"]["rows"]
    assert list(grids) == list(dict.fromkeys(r["claim"] for r in rows))
    cells = [cell for grid in grids.values() for by_task in grid.values() for cell in by_task.values()]
    assert all(GRID_CELL.fullmatch(cell) for cell in cells), cells
    for row in rows:
        for verdict, mark in MARKS.items():
            for entry in row[verdict]:
                assert grids[row["claim"]][entry["method"]][row["task"]] == f"{mark} {entry['delta']:+.4f}"
    assert {cell[0] for cell in cells} == {*MARKS.values(), "–"}  # the sweep shows every verdict
    assert grids["calibration"]["span"]["rte"].startswith("▲") and grids["calibration"]["mixup"]["rte"][0] == "▼"
    for explained in ("**▲ helps / ▼ hurts**", "**· unclear**", "**⚠ at chance**", "`⚠ 2/3`", "**–**", "**(1 seed)**"):
        assert explained in md
    assert "ensemble of" not in md
    # the recommendation per task comes first; the intervals and p-values are in the details
    assert md.index("### What to use where") < md.index("### calibration") < md.index("### Details")
    assert "| rte | **span** |" in md
    # a row compared with another than the baseline (an ensemble's) says so
    changed = copy.deepcopy(summary)
    changed["tasks"]["rte"]["methods"]["mixup (ensemble of 3)"] = {**changed["tasks"]["rte"]["methods"].pop("mixup"),
                                                                  "compared_with": "none (ensemble of 3)"}
    for row in changed["verdict"]["rows"]:
        for entry in row["hurts"]:
            entry["method"], entry["compared_with"] = "mixup (ensemble of 3)", "none (ensemble of 3)"
    write_markdown(changed, tmp_path / "report.md", changed["meta"])
    changed_md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "mixup (ensemble of 3) vs none (ensemble of 3)" in verdict_grids(changed_md)["calibration"]
    assert "**<method> (ensemble of k)**" in changed_md


def test_a_forest_plot_per_claim_draws_the_summary_changes_and_intervals(glance, tmp_path):
    from scipy import stats

    from textmix.harness.plots import forest_plot

    root, summary, md, _ = glance
    claims = list(dict.fromkeys(r["claim"] for r in summary["verdict"]["rows"]))
    assert list(summary["plots"]["forest"]) == claims
    for claim, name in summary["plots"]["forest"].items():
        assert (root / name).read_bytes()[:4] == b"\x89PNG"
        link = md.index(f"![forest plot: {claim}]({name})")
        assert md.rindex("### ", 0, link) == md.index(f"### {claim}\n")  # under its grid
    rows = [r for r in summary["verdict"]["rows"] if r["claim"] == "calibration"]
    drawn = forest_plot("calibration", rows, summary, tmp_path / "forest.png")
    assert (tmp_path / "forest.png").is_file() and set(drawn) == {"rte", "sst2"}
    for row in rows:
        for verdict in MARKS:
            for entry in row[verdict]:
                point = drawn[row["task"]][entry["method"]]
                assert point["verdict"] == verdict and point["delta"] == entry["delta"]
    rte = summary["verdict"]["rows"][0]
    for entry in (e for v in MARKS for e in rte[v]):  # the bootstrap's interval of the headline figure (smooth ECE)
        point = drawn["rte"][entry["method"]]
        assert (point["low"], point["high"]) == (entry["metrics"]["smece"]["low"], entry["metrics"]["smece"]["high"])
    # sst2 has no predictions: the paired t-test's interval of its ECE (the stand-in for smooth ECE), by scipy
    diffs = np.subtract(SST2_ECE["span"], SST2_ECE["none"])
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
    point = drawn["sst2"]["span"]
    assert point["interval"] == "t-test" and (point["low"], point["high"]) == (pytest.approx(low), pytest.approx(high))
    assert "ECE on sst2, whose results lack it" in md


def test_the_reliability_diagram_prints_the_ece_of_the_table(glance):
    from textmix.calibration import expected_calibration_error

    _, summary, md, figures = glance
    (figure,) = figures
    lines = md.splitlines()
    header = next(i for i in range(lines.index("## rte"), len(lines)) if lines[i].startswith("| method |"))
    column = split(lines[header]).index("ECE")
    for method in SCALE:
        table = split(next(x for x in lines[header:] if x.startswith(f"| {method} ")))[column]
        eces = [expected_calibration_error(np.stack([np.zeros(GLANCE_N), SCALE[method] * glance_run(s)[0]], axis=1),
                                           glance_run(s)[1]) for s in range(3)]
        assert table == f"{np.mean(eces):.4f} ± {np.std(eces, ddof=1):.4f}"  # the mean over seeds, by hand
        (ax,) = [ax for ax in figure.axes if ax.get_title() == method]
        assert ax.texts[0].get_text().startswith(f"ECE {table}\nmean of 3 seeds\nn = {3 * GLANCE_N}")
        pooled = expected_calibration_error(
            np.concatenate([np.stack([np.zeros(GLANCE_N), SCALE[method] * glance_run(s)[0]], axis=1) for s in range(3)]),
            np.concatenate([glance_run(s)[1] for s in range(3)]))
        assert f"{pooled:.4f}" not in ax.texts[0].get_text()  # not the pooled seeds' ECE


def test_no_best_method_is_named_where_every_method_is_at_chance(tmp_path):
    write_report([result("rte", m, s, 0.6, 0.1) for m in ("none", "span") for s in range(2)], tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "No method learned on this task (every method is at chance): none is named best." in md
    assert "Best " not in md and "| rte | no method learned (every method is at chance) |" in md
