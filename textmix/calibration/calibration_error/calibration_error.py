# Calibration metrics as a Hugging Face `evaluate` module, loadable offline:
#     import evaluate
#     from textmix.calibration import evaluate_module_path
#     metric = evaluate.load(evaluate_module_path())
#     metric.compute(predictions=logits, references=labels, n_bins=15, from_logits=True)
# Only `import evaluate` (not `from evaluate import Metric`) is used at module level, because evaluate.load
# picks the first EvaluationModule subclass found in this module's namespace.
import datasets
import evaluate
import numpy as np

from textmix.calibration.metrics import calibration_report
from textmix.calibration.smooth import bootstrap_interval, check_bootstrap

_DESCRIPTION = (
    "Calibration of a classifier: top-label expected calibration error (equal-width bins), adaptive "
    "(equal-mass) ECE, maximum and RMS calibration error, classwise ECE, smooth ECE (Blasiok & Nakkiran 2023) "
    "with an optional bootstrap interval, monotone-sweep ECE (Roelofs et al. 2022), Brier score, NLL and accuracy, "
    "as computed by textmix.calibration.calibration_report."
)

_KWARGS_DESCRIPTION = (
    "Args:\n"
    "    predictions: per-example logits (or probabilities with from_logits=False), one list of C floats each;\n"
    "        for binary tasks also a single positive-class logit/probability per example.\n"
    "    references: integer class ids in [0, C).\n"
    "    n_bins: number of bins (default 15).\n"
    "    from_logits: whether predictions are logits (default True) or probabilities.\n"
    "    n_bootstrap: resamples (>= 100) for smece_low / smece_high, smECE's bootstrap interval (default None: none).\n"
    "    level: the interval's confidence level in (0, 1) (default 0.95).\n"
    "    seed: the resampling seed (default 0; one seed gives every model the same resamples).\n"
    "Returns:\n"
    "    dict with accuracy, ece, adaptive_ece, mce, rmsce, classwise_ece, smece, ece_sweep, brier, nll\n"
    "    [, smece_low, smece_high].\n"
)

_CITATION = (
    "@inproceedings{guo2017calibration, title={On Calibration of Modern Neural Networks}, "
    "author={Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.}, booktitle={ICML}, year={2017}}"
)

_FLOATS = (
    datasets.List(datasets.Value("float64"))
    if hasattr(datasets, "List")
    else datasets.Sequence(datasets.Value("float64"))
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CalibrationError(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": _FLOATS, "references": datasets.Value("int64")}),
                datasets.Features(
                    {"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}
                ),
            ],
        )

    def _compute(self, predictions, references, n_bins=15, from_logits=True, n_bootstrap=None, level=0.95, seed=0):
        if n_bootstrap is not None:
            check_bootstrap(n_bootstrap, level)  # before the work
        scores, labels = np.asarray(predictions, dtype=np.float64), np.asarray(references, dtype=np.int64)
        out = calibration_report(scores, labels, n_bins=int(n_bins), from_logits=bool(from_logits))
        if n_bootstrap is not None:
            low, high = bootstrap_interval(scores, labels, "smece", from_logits=bool(from_logits),
                                           n_bootstrap=n_bootstrap, level=level, seed=int(seed))
            out.update(smece_low=low, smece_high=high)
        return out
