"""Seed ensembles: every figure of an ensemble row against the same figure computed by hand from the seeds'
probabilities averaged with numpy (torchmetrics' ECE, relplot's smooth ECE, NLL, Brier and AURC by their formulas,
a temperature fitted with scipy), on the test set, a corrupted copy and a natural-shift set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from sklearn.metrics import f1_score
from torchmetrics.classification import MulticlassCalibrationError

from textmix.harness.recipes.common import figures_of
from textmix.harness.report import build_report
from textmix.harness.report.ensembles import ENSEMBLE_SEED, ensemble_arrays

SEEDS = (0, 1, 2)
SIZES = {"validation": 120, "test": 100, "test_imdb": 60, "shift_typo_1": 100}
SHARPNESS = {"none": 3.0, "mix": 1.5, "solo": 2.0}
OFFSET = {"none": 0, "mix": 1, "solo": 2}


def sets(method: str, seed: int) -> dict[str, np.ndarray]:
    """A seed's logits and labels per set: the labels fixed per set (the same examples for every seed), logits
    a seed-dependent noisy view of a shared signal."""
    arrays = {}
    for i, (name, n) in enumerate(SIZES.items()):
        truth = np.random.default_rng(i).normal(0, 1.5, n)
        labels = (np.random.default_rng(10 + i).uniform(size=n) < 1 / (1 + np.exp(-truth))).astype(np.int64)
        noisy = truth + np.random.default_rng(100 * seed + i + OFFSET[method]).normal(0, 1.0, n)
        arrays[f"{name}_logits"] = np.stack([np.zeros(n), SHARPNESS[method] * noisy], axis=1)
        arrays[f"{name}_labels"] = labels
    return arrays


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    import textmix.harness.recipes.common as common
    import textmix.harness.report.intervals as intervals
    from textmix.calibration import classification_metrics

    pool, intervals.POOL = intervals.POOL, 100  # the fewest resamples allowed: a faster test
    runs, common.RUN_BOOTSTRAP = common.RUN_BOOTSTRAP, 100
    root = tmp_path_factory.mktemp("ensembles")
    for method, seeds in (("none", SEEDS), ("mix", SEEDS), ("solo", (0,))):
        for s in seeds:
            folder = root / "runs" / "mrpc" / method / f"seed{s}"
            folder.mkdir(parents=True)
            arrays = sets(method, s)
            np.savez(folder / "predictions.npz", **arrays)
            r = {"task": "mrpc", "method": method, "seed": s, "problem_type": "classification", "train_time_s": 10.0,
                 "natural_shift": {"imdb": "IMDb reviews"}, "config": {"data": {"task_name": "mrpc"}},
                 **figures_of(arrays, classification_metrics(), "classification")}
            (folder / "results.json").write_text(json.dumps(r))
    try:
        summary = build_report(root)
    finally:
        intervals.POOL, common.RUN_BOOTSTRAP = pool, runs
    return root, summary


def mean_probabilities(method: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in SIZES:
        members = [sets(method, s) for s in SEEDS]
        logits = [m[f"{name}_logits"] for m in members]
        probs = np.mean([np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) for z in logits], axis=0)
        out[name] = probs, members[0][f"{name}_labels"]
    return out


def by_hand(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    import relplot

    conf, hits = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float)
    order = np.argsort(-conf, kind="stable")
    risks = np.cumsum(1 - hits[order]) / np.arange(1, len(hits) + 1)
    onehot = np.eye(probs.shape[1])[labels]
    ece = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=15, norm="l1")
    return {"accuracy": hits.mean(), "f1": f1_score(labels, probs.argmax(axis=1), average="binary" if probs.shape[1] == 2 else "macro"),
            "ece": float(ece(torch.tensor(probs), torch.tensor(labels))), "smece": relplot.smECE(conf, hits),
            "nll": -np.log(probs[np.arange(len(labels)), labels]).mean(), "brier": ((probs - onehot) ** 2).sum(1).mean(),
            "aurc": risks.mean()}


def scaled(probs: np.ndarray, t: float) -> np.ndarray:
    z = np.log(probs) / t
    return np.exp(z - z.max(axis=1, keepdims=True)) / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)


def test_the_ensemble_row_has_every_figure_of_the_averaged_probabilities(sweep):
    pytest.importorskip("relplot")
    root, summary = sweep
    task = summary["tasks"]["mrpc"]
    row = task["methods"]["mix (ensemble of 3)"]
    saved = json.loads((root / "ensembles" / "mrpc" / "mix" / "results.json").read_text())
    assert saved["ensemble"] == {"method": "mix", "seeds": [0, 1, 2], "k": 3} and row["seeds"] == [ENSEMBLE_SEED]
    probs = mean_probabilities("mix")
    test = by_hand(*probs["test"])
    for name in ("accuracy", "ece", "smece", "nll", "brier", "aurc"):
        assert row[name] == pytest.approx(test[name], abs=1e-6), name
    assert row["task_metric"] == pytest.approx(test["f1"])  # MRPC's metric: F1
    assert row["train_time_s"] == 30.0
    val_probs, val_labels = probs["validation"]
    fit = minimize_scalar(lambda t: by_hand(scaled(val_probs, t), val_labels)["nll"], bounds=(0.05, 20), method="bounded",
                          options={"xatol": 1e-8}).x
    assert row["temperature"] == pytest.approx(fit, rel=1e-3)
    after = by_hand(scaled(probs["test"][0], fit), probs["test"][1])
    for name in ("ece", "smece", "nll", "brier"):
        assert row[f"{name}_ts"] == pytest.approx(after[name], abs=1e-4), name
    shifted = by_hand(*probs["shift_typo_1"])
    cell = saved["shift"]["typo"]["1"]
    assert (cell["accuracy"], cell["ece"]) == pytest.approx((shifted["accuracy"], shifted["ece"]), abs=1e-6)
    natural = by_hand(*probs["test_imdb"])
    for name in ("accuracy", "smece", "nll", "brier"):
        assert task["natural_shift"]["methods"]["mix (ensemble of 3)"]["imdb"][name] == pytest.approx(natural[name],
                                                                                                       abs=1e-6)


def test_each_ensemble_is_compared_with_the_right_rows(sweep):
    _, summary = sweep
    rows = summary["tasks"]["mrpc"]["methods"]
    assert "solo (ensemble of 1)" not in rows and not any(m.startswith("solo (") for m in rows)  # one seed: none
    ens_none, ens_mix = rows["none (ensemble of 3)"], rows["mix (ensemble of 3)"]
    assert (ens_none["compared_with"], ens_mix["compared_with"], rows["mix"]["compared_with"]) == (
        "none", "none (ensemble of 3)", "none")
    singles = [by_hand(scaled(np.exp(v["test_logits"]), 1.0), v["test_labels"]) for v in (sets("none", s) for s in SEEDS)]
    mix = by_hand(*mean_probabilities("mix")["test"])
    none = by_hand(*mean_probabilities("none")["test"])
    # the ensemble held fixed against each seed of single `none`
    assert ens_none["nll_change"]["delta"] == pytest.approx(none["nll"] - np.mean([s["nll"] for s in singles]))
    assert ens_none["nll_change"]["n"] == 3 and "low" in ens_none["nll_change"]
    # mixing's gain on top of ensembling: one ensemble against the other, an interval over the test examples
    assert ens_mix["nll_change"]["delta"] == pytest.approx(mix["nll"] - none["nll"])
    assert ens_mix["nll_change"]["low"] <= ens_mix["nll_change"]["delta"] <= ens_mix["nll_change"]["high"]
    single = ens_mix["against_single_baseline"]
    assert single["compared_with"] == "none"
    assert single["nll_change"]["delta"] == pytest.approx(mix["nll"] - np.mean([s["nll"] for s in singles]))
    verdict = [r for r in summary["verdict"]["rows"] if r["claim"] == "calibration" and r["task"] == "mrpc"][0]
    entries = {e["method"]: e for key in ("helps", "hurts", "no_change", "at_chance") for e in verdict[key]}
    assert entries["mix (ensemble of 3)"]["compared_with"] == "none (ensemble of 3)"
    assert summary["ensemble_note"] and "no model is trained" in summary["ensemble_note"]


def test_seeds_whose_labels_differ_make_no_ensemble():
    a = {"validation_logits": np.zeros((3, 2)), "validation_labels": np.array([0, 1, 1])}
    b = {**a, "validation_labels": np.array([0, 1, 0])}
    arrays, why = ensemble_arrays([a, b])
    assert arrays is None and "labels differ" in why
    arrays, why = ensemble_arrays([a, {**a, "test_logits": a["validation_logits"], "test_labels": np.ones(3)}])
    assert arrays is None and "different sets" in why


def test_the_natural_shift_claim_has_an_interval_from_the_predictions_of_its_sets(sweep):
    _, summary = sweep
    (row,) = [r for r in summary["verdict"]["rows"] if r["claim"] == "calibration under natural shift"]
    entries = {e["method"]: e for key in ("helps", "hurts", "no_change", "at_chance") for e in row[key]}
    nll = entries["mix"]["metrics"]["nll"]
    by_seed = [by_hand(scaled(np.exp(sets(m, s)["test_imdb_logits"]), 1.0), sets(m, s)["test_imdb_labels"])["nll"]
               for m in ("none", "mix") for s in SEEDS]
    assert nll["delta"] == pytest.approx(np.mean(by_seed[3:]) - np.mean(by_seed[:3]))
    assert nll["low"] <= nll["delta"] <= nll["high"] and entries["mix"]["evidence"] == "bootstrap interval"
    ensemble = entries["mix (ensemble of 3)"]["metrics"]["nll"]
    mixed, none = (by_hand(*mean_probabilities(m)["test_imdb"])["nll"] for m in ("mix", "none"))
    assert ensemble["delta"] == pytest.approx(mixed - none) and ensemble["low"] <= ensemble["delta"] <= ensemble["high"]


def test_the_shift_claim_holds_the_ensemble_against_each_seed_of_single_none(sweep):
    _, summary = sweep
    (row,) = [r for r in summary["verdict"]["rows"] if r["claim"] == "corruption robustness"]
    entries = {e["method"]: e for key in ("helps", "hurts", "no_change", "at_chance") for e in row[key]}
    singles = [by_hand(scaled(np.exp(v["shift_typo_1_logits"]), 1.0), v["shift_typo_1_labels"])["accuracy"]
               for v in (sets("none", s) for s in SEEDS)]
    ensemble = by_hand(*mean_probabilities("none")["shift_typo_1"])["accuracy"]
    assert entries["none (ensemble of 3)"]["delta"] == pytest.approx(ensemble - np.mean(singles))
    assert entries["none (ensemble of 3)"]["n"] == 3 and entries["mix (ensemble of 3)"]["n"] == 1  # one pair: no test


def test_a_cell_whose_seeds_saw_other_labels_is_named_as_skipped(tmp_path):
    from textmix.harness.report.ensembles import build_ensembles

    runs = []
    for s in SEEDS[:2]:
        folder = tmp_path / f"seed{s}"
        folder.mkdir()
        labels = np.array([0, 1, 1, s])
        np.savez(folder / "predictions.npz", validation_logits=np.zeros((4, 2)), validation_labels=labels,
                 test_logits=np.zeros((4, 2)), test_labels=labels)
        runs.append({"task": "rte", "method": "none", "seed": s, "problem_type": "classification", "_folder": str(folder)})
    made, skipped = build_ensembles(runs, tmp_path / "report")
    assert made == [] and skipped == [{"file": str(tmp_path / "report" / "ensembles" / "rte" / "none"), "reason":
                                       "no ensemble of rte / none: the seeds' `test` labels differ (not the same "
                                       "examples in the same order)"}]


def test_a_tagger_ensemble_averages_each_labelled_token(tmp_path):
    from textmix.calibration import token_classification_metrics
    from textmix.harness.report.ensembles import build_ensembles

    names = ["O", "B-PER", "I-PER"]
    labels = {split: np.random.default_rng(i).integers(0, 3, (6, 5)) for i, split in enumerate(("validation", "test"))}
    for split in labels:
        labels[split][:, 3:] = -100  # padding and later sub-tokens: not scored
    runs = []
    for s in SEEDS:
        folder = tmp_path / f"seed{s}"
        folder.mkdir()
        arrays = {**{f"{k}_labels": v for k, v in labels.items()},
                  **{f"{k}_logits": 2 * np.eye(3)[v.clip(0)] + np.random.default_rng(10 + s).normal(0, 2, (6, 5, 3))
                     for k, v in labels.items()}}
        np.savez(folder / "predictions.npz", **arrays)
        runs.append({"task": "wnut", "method": "none", "seed": s, "problem_type": "token", "label_names": names,
                     "_folder": str(folder), **figures_of(arrays, token_classification_metrics(names), "token")})
    (made,), skipped = build_ensembles(runs, tmp_path / "report")
    assert skipped == [] and made["method"] == "none (ensemble of 3)"
    members = [np.load(tmp_path / f"seed{s}" / "predictions.npz")["test_logits"] for s in SEEDS]
    probs = np.mean([np.exp(z) / np.exp(z).sum(axis=2, keepdims=True) for z in members], axis=0)
    keep = labels["test"] != -100
    expected = by_hand(probs[keep], labels["test"][keep])
    for name in ("accuracy", "ece", "nll", "brier"):
        assert made["test"][name] == pytest.approx(expected[name], abs=1e-6), name
    assert "entity_f1" in made["test"] and made["temperature"] > 0
