"""A planted-bug round over the statistics, the label contract, run identity, the grid merge, attention label
weights, the calibrated export and the patch grid: one-line mutations, each applied alone to a temporary
copy of the checkout, followed by the few tests that should catch it.

    python tools/planted_bugs.py            # every mutation; prints caught / survived and a total
    python tools/planted_bugs.py 3 17       # only mutations 3 and 17 (numbers as listed by --list)
    python tools/planted_bugs.py --list     # the mutations, and a check that each snippet occurs once
    python tools/planted_bugs.py --baseline # first run every selection unmutated (each must pass)

The mutations were chosen as realistic one-line bugs (off-by-one, swapped arguments, `<` <-> `<=`, wrong axis,
a dropped detach / no_grad, mean <-> sum, a wrong default) before the tests that catch them were written
(issue 26). The checkout itself is never modified: the copy lives in a temporary folder. Not part of CI;
tests/test_planted_bugs.py checks that every snippet still occurs exactly once in its file.

Last round (tools/planted_bugs.txt): 58 planted, 58 caught, in 140 s on the 2-core machine (2026-12-05, after the merge).
Survivors of an earlier round, both closed by a test since: the head's bias multiplied instead of divided
(the selected ViT test's head has a zero bias: now `test_folding_twice_multiplies_the_temperatures_by_hand`),
and `_merge` copying its base shallowly (no test mutated a mapping only the base has: now `test_merge_by_hand`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    """One planted bug: `original` (a snippet occurring exactly once in `file`) becomes `replacement`;
    `tests`: the pytest node ids (or `file::-k expression` as "file -k expr") that should catch it."""

    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    what: str


SMOOTH = "textmix/calibration/smooth.py"
METRICS = "textmix/calibration/metrics.py"
EXPORT = "textmix/calibration/export.py"
INTERVALS = "textmix/harness/report/intervals.py"
STATISTICS = "textmix/harness/report/statistics.py"
CLAIMS = "textmix/harness/report/claims.py"
CONTRACTS = "textmix/harness/data/contracts.py"
RESUME = "textmix/harness/recipes/resume.py"
RUNFILE = "textmix/harness/runfile.py"
GRID = "textmix/harness/compare/grid.py"
ATTENTION = "textmix/attention.py"

T_SMOOTH = "tests/calibration/test_smooth.py"
T_REL = "tests/calibration/test_reliability.py"
T_METRICS = "tests/calibration/test_metrics.py"
T_EXPORT = "tests/calibration/test_export.py"
T_INTERVALS = "tests/harness/test_report_intervals.py"
T_STATS = "tests/harness/test_report_statistics.py"
T_CLAIMS = "tests/harness/test_report_claims.py"
T_CONTRACTS = "tests/harness/data/test_contracts_known.py"
T_RESUME = "tests/harness/recipes/test_resume_known.py"
T_GRID = "tests/harness/test_grid.py"
T_ATT = "tests/test_attention_labels.py"
T_PATCH = "tests/test_patch.py"

MUTATIONS: tuple[Mutation, ...] = (
    # ---------------------------------------------------------------- textmix/calibration/smooth.py
    Mutation(SMOOTH, "integers(0, n, size=(int(n_bootstrap), int(n)))", "integers(0, n - 1, size=(int(n_bootstrap), int(n)))",
             (f"{T_SMOOTH}::test_bootstrap_indices_draw_every_example_uniformly",
              f"{T_SMOOTH}::test_bootstrap_interval_of_a_mean_on_two_examples_is_0_to_1"),
             "resamples never draw the last example"),
    Mutation(SMOOTH, "    tail = (1.0 - float(level)) / 2", "    tail = 1.0 - float(level)",
             (f"{T_SMOOTH}::test_bootstrap_interval_of_a_mean_is_the_normal_interval",), "a one-sided tail"),
    Mutation(SMOOTH, "values = np.array([fn(f[idx], y[idx]) for idx in pool])",
             "values = np.array([fn(f, y) for idx in pool])",
             (f"{T_SMOOTH}::test_bootstrap_interval_of_a_mean_on_two_examples_is_0_to_1",), "the resample index dropped"),
    Mutation(SMOOTH, "np.concatenate([[0.0], np.cumsum(y[order])])", "np.concatenate([[0.0], np.cumsum(y)])",
             (f"{T_SMOOTH}::test_sweep_ece_by_hand", f"{T_SMOOTH}::test_sweep_ece_of_two_examples_by_hand"),
             "outcomes not sorted with their confidences"),
    Mutation(SMOOTH, "if np.any(np.diff(acc) < 0):", "if np.any(np.diff(acc) <= 0):",
             (f"{T_SMOOTH}::test_sweep_ece_by_hand",), "`<` -> `<=` in the monotone sweep"),
    Mutation(SMOOTH, "ok = (mid < _SEARCH_EPS) | (mid < _smece_rows(f, y, mid))",
             "ok = (mid < _SEARCH_EPS) | (mid > _smece_rows(f, y, mid))",
             (f"{T_SMOOTH}::test_smece_of_many_resamples_at_once_equals_relplot_on_each",),
             "the batched bisection's comparison flipped"),
    Mutation(SMOOTH, "    pos = f * (points - 1)\n    bins = pos.astype(int).clip(0, points - 2)\n    frac = pos - bins\n"
             "    return", "    pos = f * points\n    bins = pos.astype(int).clip(0, points - 2)\n    frac = pos - bins\n"
             "    return", (f"{T_SMOOTH}::test_smece_equals_relplot_on_calibrated_predictions",),
             "grid position off by one node"),
    # ---------------------------------------------------------------- textmix/calibration/metrics.py
    Mutation(METRICS, "edges, right=True) - 1)", "edges, right=False) - 1)",
             (f"{T_REL}::test_bins_at_exact_edges_match_numpy_histogram",), "a confidence on an edge in the lower bin"),
    Mutation(METRICS, "sum_acc = torch.bincount(idx, weights=correct.double(), minlength=int(n_bins))",
             "sum_acc = torch.bincount(idx, weights=conf, minlength=int(n_bins))",
             (f"{T_REL}::test_bins_of_four_at_the_edges_by_hand",), "bin accuracy from the confidences"),
    Mutation(METRICS, "return ((p.probs - onehot) ** 2).sum(dim=1)", "return ((p.probs - onehot) ** 2).mean(dim=1)",
             (f"{T_METRICS}::test_perfect_and_worst_cases", f"{T_METRICS}::test_individual_functions_match_report",
              f"{T_INTERVALS}::test_resampled_values_average_the_per_example_figures_of_each_resample"),
             "Brier mean over classes instead of sum (the score and the report's per-example one)"),
    # ---------------------------------------------------------------- temperature.py, selective.py
    Mutation("textmix/calibration/temperature.py", "cross_entropy(logits * math.exp(-log_t), labels)",
             "cross_entropy(logits * math.exp(log_t), labels)",
             ("tests/calibration/test_temperature.py::test_overconfident_gets_t_above_one_and_underconfident_below",),
             "logits multiplied by T"),
    Mutation("textmix/calibration/temperature.py", '"after": calibration_report(test / t,', '"after": calibration_report(test,',
             ("tests/calibration/test_temperature.py::test_temperature_scaling_report",), "the report after scaling unscaled"),
    Mutation("textmix/calibration/selective.py", "math.ceil(_check_coverage(coverage) * conf.size - 1e-9)",
             "math.ceil(_check_coverage(coverage) * conf.size)",
             ("tests/calibration/test_selective.py::test_float_noise_in_coverage_does_not_add_a_sample",),
             "float noise adds a sample"),
    # ---------------------------------------------------------------- textmix/calibration/export.py
    Mutation(EXPORT, "        head.bias.div_(t)", "        head.bias.mul_(t)",
             (f"{T_EXPORT}::test_folding_twice_multiplies_the_temperatures_by_hand",), "bias multiplied by the temperature"),
    Mutation(EXPORT, 'total = t * float(earlier.get("temperature", 1.0))', "total = t",
             (f"{T_EXPORT}::test_folding_twice_multiplies_the_temperatures_by_hand",),
             "folding twice records the last temperature only"),
    Mutation(EXPORT, "if not math.isfinite(t) or t <= 0.0:", "if not math.isfinite(t) or t < 0.0:",
             (f"{T_EXPORT}::test_bad_temperatures",), "temperature 0 accepted"),
    # ---------------------------------------------------------------- textmix/harness/report/intervals.py
    Mutation(INTERVALS, "resample = rng.integers(0, diffs.shape[1], size=(n_bootstrap, len(seeds)))",
             "resample = rng.integers(0, diffs.shape[1], size=(n_bootstrap, 1))",
             (f"{T_INTERVALS}::test_k_identical_seeds_give_an_interval_1_over_sqrt_k_as_wide_as_one",),
             "one example resample shared by all seeds of a replicate"),
    Mutation(INTERVALS, "picked = rng.integers(0, len(seeds), size=", "picked = rng.integers(0, len(seeds) - 1, size=",
             (f"{T_INTERVALS}::test_every_seed_and_every_example_resample_is_drawn",), "the last seed never drawn"),
    Mutation(INTERVALS, "resample = rng.integers(0, diffs.shape[1], size=", "resample = rng.integers(0, diffs.shape[1] - 1, size=",
             (f"{T_INTERVALS}::test_every_seed_and_every_example_resample_is_drawn",),
             "the last example resample never drawn"),
    Mutation(INTERVALS, "    tail = (1.0 - level) / 2", "    tail = 1.0 - level",
             (f"{T_INTERVALS}::test_one_seed_interval_is_the_percentiles_of_the_example_differences",),
             "5 / 95 % instead of 2.5 / 97.5 %"),
    Mutation(INTERVALS, '"detectable": float((high - low) / 2)', '"detectable": float(high - low)',
             (f"{T_INTERVALS}::test_one_seed_interval_is_the_percentiles_of_the_example_differences",),
             "the full width as the detectable change"),
    Mutation(INTERVALS, "point = np.array([other[s][0] - base[s][0] for s in seeds])",
             "point = np.array([base[s][0] - other[s][0] for s in seeds])",
             (f"{T_INTERVALS}::test_the_change_is_other_minus_base_over_the_seeds_both_have",), "the change's sign"),
    Mutation(INTERVALS, "return float(values.mean()), values[pool].mean(axis=1)",
             "return float(values.mean()), values[pool].mean(axis=0)",
             (f"{T_INTERVALS}::test_resampled_values_average_the_per_example_figures_of_each_resample",), "wrong axis"),
    Mutation(INTERVALS, "probs = predictions[1] if figure.scaled else predictions[0]",
             "probs = predictions[0] if figure.scaled else predictions[1]",
             (f"{T_INTERVALS}::test_resampled_values_average_the_per_example_figures_of_each_resample",),
             "scaled and unscaled probabilities swapped"),
    Mutation(INTERVALS, "return np.stack([np.zeros_like(logits), logits], axis=1) if logits.ndim == 1",
             "return np.stack([logits, np.zeros_like(logits)], axis=1) if logits.ndim == 1",
             (f"{T_INTERVALS}::test_run_predictions_read_logits_labels_and_the_temperature",),
             "one logit read as the negative class's"),
    Mutation(INTERVALS, "_softmax(logits / float(temperature))", "_softmax(logits * float(temperature))",
             (f"{T_INTERVALS}::test_run_predictions_read_logits_labels_and_the_temperature",),
             "temperature multiplied"),
    Mutation(INTERVALS, "z = logits - logits.max(axis=1, keepdims=True)", "z = logits - logits.max(axis=0, keepdims=True)",
             (f"{T_INTERVALS}::test_run_predictions_read_logits_labels_and_the_temperature",), "softmax's wrong axis"),
    # ---------------------------------------------------------------- textmix/harness/report/statistics.py
    Mutation(STATISTICS, "or p >= alpha or", "or p > alpha or",
             (T_STATS,), "p = alpha judged significant"),
    Mutation(STATISTICS, "if sign * low > 0 and sign * high > 0:", "if sign * low >= 0 and sign * high > 0:",
             (T_STATS,), "an interval touching 0 helps"),
    Mutation(STATISTICS, 'sign = -1.0 if better == "lower" else 1.0', 'sign = -1.0 if better == "higher" else 1.0',
             (T_STATS,), "the better direction inverted"),
    Mutation(STATISTICS, "float(arr.std(ddof=1))", "float(arr.std(ddof=0))", (T_STATS,), "population std"),
    Mutation(STATISTICS, "delta = float((b - a).mean())", "delta = float((a - b).mean())", (T_STATS,),
             "the paired change's sign"),
    Mutation(STATISTICS, "if a.size > 1 and np.ptp(b - a) > 0:", "if a.size > 2 and np.ptp(b - a) > 0:",
             (T_STATS,), "no t-test on two seeds"),
    Mutation(STATISTICS, 'elif entry["n"] != change["n_seeds"]:', 'elif entry["n"] == change["n_seeds"]:',
             (T_STATS,), "the seed-count check inverted"),
    # ---------------------------------------------------------------- textmix/harness/report/claims.py
    Mutation("textmix/calibration/temperature.py", "or temperature >= hi * (1 - rtol):", "or temperature > hi * (1 - rtol):",
             (f"{T_CLAIMS}::test_a_temperature_within_1_percent_of_a_search_bound_is_the_bound",),
             "`>=` -> `>` (the run's `temperature_at_bound`, which the report reads)"),
    Mutation(CLAIMS, 'best = min(eligible, key=lambda m: eligible[m]["validation_nll_ts"])',
             'best = max(eligible, key=lambda m: eligible[m]["validation_nll_ts"])',
             (f"{T_CLAIMS}::test_the_recommendation_is_the_lowest_validation_nll_among_methods_that_learned",),
             "the highest NLL recommended"),
    Mutation(CLAIMS, 'eligible = {m: r for m, r in measured.items() if not r["at_chance_seeds"]}',
             "eligible = dict(measured)",
             (f"{T_CLAIMS}::test_the_recommendation_is_the_lowest_validation_nll_among_methods_that_learned",),
             "a method at chance recommended"),
    Mutation(CLAIMS, 'verdict = {"helps": "beat", "hurts": "lost"}', 'verdict = {"helps": "lost", "hurts": "beat"}',
             (f"{T_CLAIMS}::test_the_recommendation_against_the_baseline_after_scaling",), "beat and lost swapped"),
    Mutation(CLAIMS, "decisive = changes.get(views.RECOMMENDED_VS_TS[0])", "decisive = changes.get(views.RECOMMENDED_VS_TS[-1])",
             (f"{T_CLAIMS}::test_the_recommendation_against_the_baseline_after_scaling",),
             "smECE after scaling decides instead of NLL"),
    Mutation(CLAIMS, '"helps" if verdicts == {"helps"} else', '"helps" if "helps" in verdicts else',
             (f"{T_CLAIMS}::test_the_verdict_needs_every_metric_of_a_claim_to_agree",),
             "one metric of a claim is enough"),
    # ---------------------------------------------------------------- textmix/harness/data/contracts.py
    Mutation(CONTRACTS, "            return float(value.strip()) == MISSING_LABEL\n",
             '            return value.strip() == "-1"\n',
             (T_CONTRACTS,), 'a missing label spelled "-1.0" read as a class'),
    Mutation(CONTRACTS, "        return float(value) == MISSING_LABEL\n", "        return False\n", (T_CONTRACTS,), "-1 as a number is a class"),
    Mutation(CONTRACTS, 'whole = name.lstrip("-").isdigit()', "whole = name.isdigit()",
             (T_CONTRACTS,), "negative whole numbers sorted as names"),
    Mutation(CONTRACTS, "dropped[split] = sum(unseen.values())", "dropped[split] = len(unseen)",
             (T_CONTRACTS,), "dropped rows counted by distinct label"),
    Mutation(CONTRACTS, "return max(1, min(k, n - 1))", "return max(1, min(k, n))",
             (T_CONTRACTS,), "a carved split may take every row"),
    # ---------------------------------------------------------------- textmix/harness/recipes/resume.py
    Mutation(RESUME, "for k in sorted(set(old) | set(new))", "for k in sorted(set(old))",
             (T_RESUME,), "an argument only the new configuration sets is ignored"),
    Mutation(RESUME, 'if stored.get("grid_key") and stored.get("grid_key") == identity.get("grid_key"):',
             'if stored.get("grid_key") == identity.get("grid_key"):',
             (T_RESUME,), "two runs without a run key always the same"),
    Mutation(RUNFILE, "    dropped = RESULT_NEUTRAL | PER_PROCESS | PATHS", "    dropped = RESULT_NEUTRAL | PATHS",
             (T_RESUME,), "local_rank part of the identity"),
    # ---------------------------------------------------------------- textmix/harness/compare/grid.py
    Mutation(GRID, "            out[key] = _merge(out[key], value)", "            out[key] = dict(value)",
             (T_GRID,), "a config's nested data:/training: replaces the preset's mapping"),
    Mutation(GRID, "    out = copy.deepcopy(base)\n", "    out = dict(base)\n",
             (T_GRID,), "the merge changes the base's nested mappings"),
    # ---------------------------------------------------------------- textmix/attention.py
    Mutation(ATTENTION, "        with torch.no_grad():\n            if source", "        with torch.enable_grad():\n            if source",
             (f"{T_ATT}::test_attention_label_weights_carry_no_gradient_into_q_and_k",),
             "label weights computed with gradients on"),
    Mutation(ATTENTION, "return ((self.area.float() + (1.0 - pasted)) / 2)", "return ((self.area.float() + pasted) / 2)",
             (f"{T_ATT}::test_attention_lam_is_the_mean_of_area_and_kept_attention_by_hand",),
             "the pasted share where the kept one belongs"),
    Mutation(ATTENTION, "/ (attn * self.support).sum(-1)", "/ attn.sum(-1)",
             (f"{T_ATT}::test_attention_lam_is_the_mean_of_area_and_kept_attention_by_hand",),
             "attention share over all keys, not the ones that count"),
    Mutation(ATTENTION, "attn = self.attn[:, -self.region.shape[1]:]", "attn = self.attn[:, :self.region.shape[1]]",
             (f"{T_ATT}::test_attention_lam_is_the_mean_of_area_and_kept_attention_by_hand",),
             "the first K keys (the class token among them)"),
    Mutation(ATTENTION, 'scaling = getattr(module, "scaling", None) or d ** -0.5',
             'scaling = getattr(module, "scaling", None) or d ** 0.5',
             (f"{T_ATT}::test_recomputed_attention_row_takes_every_mask_form",), "scores multiplied by sqrt(d)"),
    # ---------------------------------------------------------------- the patch grid (height x width)
    Mutation("textmix/methods/patches.py", "return height // ph, width // pw", "return width // pw, height // ph",
             (f"{T_PATCH}::test_patch_cutmix_equals_patch_aligned_pixel_cutmix",
              f"{T_PATCH}::test_other_image_sizes_use_their_own_grid"), "the patch grid's axes swapped"),
    Mutation("textmix/methods/pixels.py", "grid = (size[0] // patch_size[0], size[1] // patch_size[1])",
             "grid = (size[1] // patch_size[1], size[0] // patch_size[0])",
             (f"{T_ATT}::test_transmix_weights_equal_the_hand_computation",),
             "TransMix's pixel-box grid with its axes swapped"),
)


def check(mutations: tuple[Mutation, ...] = MUTATIONS) -> list[str]:
    """Problems of the list: a snippet that does not occur exactly once in its file, a replacement equal to
    it, a test file that does not exist."""
    problems = []
    for i, m in enumerate(mutations, 1):
        path = ROOT / m.file
        count = path.read_text(encoding="utf-8").count(m.original) if path.exists() else -1
        if count != 1:
            problems.append(f"{i}: {m.file}: the snippet occurs {count} times: {m.original!r}")
        if m.original == m.replacement:
            problems.append(f"{i}: the replacement is the original")
        problems += [f"{i}: no test file {t.split('::')[0]}" for t in m.tests if not (ROOT / t.split("::")[0]).exists()]
    return problems


def _warm_up() -> None:
    """Import the heavy third-party modules once, in the parent: each mutant's tests run in a fork of it,
    which imports textmix (from the copy) afresh. Importing torch takes most of a pytest run on a busy machine."""
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import scipy.stats  # noqa: F401
    import torch  # noqa: F401
    import torchmetrics.functional.classification  # noqa: F401
    import transformers  # noqa: F401
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification  # noqa: F401
    from transformers.models.bert import modeling_bert  # noqa: F401
    from transformers.models.llama import modeling_llama  # noqa: F401
    from transformers.models.vit import modeling_vit  # noqa: F401

    assert not any(name == "textmix" or name.startswith("textmix.") for name in sys.modules)


def _run_tests(root: Path, tests: tuple[str, ...], timeout: int) -> tuple[int, str]:
    """Run `tests` in a fork of this process (cwd and import path: the copy `root`); (exit code, last line)."""
    import signal

    args = ["-q", "-x", "-p", "no:cacheprovider", "--no-header", "-W", "ignore", *tests]
    log = Path(tempfile.mkstemp(prefix="planted-", suffix=".log")[1])
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 3
        try:
            fd = os.open(log, os.O_WRONLY | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(root)
            sys.path.insert(0, str(root))
            sys.dont_write_bytecode = True
            import pytest

            code = int(pytest.main(args))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            rc = -1
            break
        time.sleep(0.2)
    lines = [x for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    log.unlink()
    return rc, ("timed out" if rc == -1 else lines[-1] if lines else "")


def main(argv: list[str]) -> int:
    problems = check()
    if "--list" in argv:
        for i, m in enumerate(MUTATIONS, 1):
            print(f"{i:2d}. {m.file}: {m.what}\n    {m.original!r}\n -> {m.replacement!r}\n    tests: {' '.join(m.tests)}")
        print("\n".join(problems) or f"{len(MUTATIONS)} mutations, every snippet occurs exactly once")
        return 1 if problems else 0
    if problems:
        print("\n".join(problems))
        return 1
    _warm_up()
    wanted = [int(a) for a in argv if a.isdigit()]
    chosen = [(i, m) for i, m in enumerate(MUTATIONS, 1) if not wanted or i in wanted]
    with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
        copy = Path(tmp) / "checkout"
        copy.mkdir()
        for part in ("textmix", "tests", "pyproject.toml", "README.md", "docs", "examples", "benchmarks"):
            source = ROOT / part
            if source.is_dir():
                shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif source.exists():
                shutil.copy2(source, copy / part)
        if "--baseline" in argv:
            for i, m in chosen:
                rc, tail = _run_tests(copy, m.tests, 600)
                print(f"baseline {i:2d}: {'ok' if rc == 0 else 'FAILS'} ({tail})", flush=True)
                if rc != 0:
                    return 1
        caught, survived = [], []
        start = time.perf_counter()
        for i, m in chosen:
            target = copy / m.file
            text = target.read_text(encoding="utf-8")
            target.write_text(text.replace(m.original, m.replacement, 1), encoding="utf-8")
            try:
                t0 = time.perf_counter()
                rc, tail = _run_tests(copy, m.tests, 600)
            finally:
                target.write_text(text, encoding="utf-8")
            verdict = "caught" if rc not in (0, 5) else "SURVIVED" if rc == 0 else "no tests ran"
            (caught if verdict == "caught" else survived).append(i)
            print(f"{i:2d}. {verdict:8s} {m.file}: {m.what} [{time.perf_counter() - t0:.0f} s; {tail}]", flush=True)
    total = len(chosen)
    print(f"\nplanted {total}, caught {len(caught)}, survived {len(survived)}"
          f"{' (' + ', '.join(map(str, survived)) + ')' if survived else ''}; {time.perf_counter() - start:.0f} s")
    return 0 if not survived else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
